using Finetune.Data;
using Finetune.Models;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Training;

/// <summary>Lets the Trainer drive any XForSequenceClassification of Finetune.Models.</summary>
public sealed class SequenceClassifierAdapter : ISequenceClassifier
{
    public SequenceClassifierAdapter(SequenceClassificationModel model) => Model = model;

    public SequenceClassificationModel Model { get; }
    public Module Module => Model;
    public int NumLabels => Model.NumLabels;
    public string ProblemType => Model.Config.ResolveProblemType(integerLabels: true);
    public IReadOnlyDictionary<int, string>? Id2Label => Model.Config.Id2Label;

    public ClassifierOutput Forward(Batch batch)
    {
        var ids = IntTensor.FromArray(batch.InputIds, batch.BatchSize, batch.SeqLen);
        var mask = IntTensor.FromArray(batch.AttentionMask, batch.BatchSize, batch.SeqLen);
        var types = batch.TokenTypeIds != null ? IntTensor.FromArray(batch.TokenTypeIds, batch.BatchSize, batch.SeqLen) : null;
        Labels? labels = null;
        if (batch.Labels != null) labels = batch.Labels;
        else if (batch.FloatLabels != null) labels = batch.FloatLabels;
        var output = Model.Forward(new EncoderInputs(ids, mask, types), labels);
        return new ClassifierOutput(output.Logits, output.Loss);
    }

    public void SaveConfig(string directory) => Model.Config.SavePretrained(directory);

    void ISequenceClassifier.SavePretrained(string directory) => Model.SavePretrained(directory);

    void ISequenceClassifier.LoadSaved(string directory) => Model.LoadPretrained(directory);
}
