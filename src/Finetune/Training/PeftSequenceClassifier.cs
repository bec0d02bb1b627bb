using Finetune.Data;
using Finetune.Nn;
using Finetune.Peft;

namespace Finetune.Training;

/// <summary>
/// What the Trainer drives when it trains LoRA adapters: the adapted model's forward, and an adapter folder
/// (adapter_config.json + adapter_model.safetensors, as peft) in place of the full weights, in checkpoints too.
/// </summary>
public sealed class PeftSequenceClassifier(SequenceClassifierAdapter inner, PeftModel peft) : ISequenceClassifier
{
    public PeftModel Peft { get; } = peft;
    public Module Module => inner.Module;
    public int NumLabels => inner.NumLabels;
    public string ProblemType => inner.ProblemType;
    public IReadOnlyDictionary<int, string>? Id2Label => inner.Id2Label;

    public ClassifierOutput Forward(Batch batch) => inner.Forward(batch);

    /// <summary>Only the adapter's config: the base model's config.json stays with the base model.</summary>
    public void SaveConfig(string directory) => Peft.SavePretrained(directory);

    void ISequenceClassifier.SavePretrained(string directory) => Peft.SavePretrained(directory);

    void ISequenceClassifier.LoadSaved(string directory) => Peft.LoadAdapter(Path.Combine(directory, LoraConfig.AdapterWeightsName));
}
