using Finetune.Inference;
using Finetune.Models;
using Finetune.Tokenizers;
using Finetune.Training;

namespace Finetune.Serving;

/// <summary>
/// A sequence-classification model and its tokenizer, loaded once and only read afterwards: the same
/// <see cref="TextClassificationPipeline"/> `finetune predict` uses, so the server's scores are predict's.
/// </summary>
public sealed class ServedClassifier
{
    private ServedClassifier(string modelId, TextClassificationPipeline pipeline, PreTrainedTokenizer tokenizer, SequenceClassifierAdapter adapter)
    {
        ModelId = modelId;
        Pipeline = pipeline;
        Tokenizer = tokenizer;
        NumLabels = adapter.NumLabels;
        ProblemType = adapter.ProblemType;
        var labels = new string[NumLabels];
        for (int i = 0; i < labels.Length; i++) labels[i] = pipeline.LabelName(i);
        Labels = labels;
        MaxInputLength = pipeline.EncodeOptions.MaxLength ?? int.MaxValue;
    }

    /// <summary>A model folder or Hub id (its tokenizer from the same place).</summary>
    public static ServedClassifier Load(string modelDirOrId, string? revision = null)
    {
        var adapter = new SequenceClassifierAdapter(AutoModelForSequenceClassification.FromPretrained(modelDirOrId, revision: revision));
        var tokenizer = AutoTokenizer.FromPretrained(modelDirOrId, revision);
        // As predict: a regression head's output is the value itself, not a probability.
        var pipeline = new TextClassificationPipeline(adapter, tokenizer,
            functionToApply: adapter.ProblemType == ProblemTypes.Regression ? ClassificationFunction.None : null);
        return new ServedClassifier(modelDirOrId, pipeline, tokenizer, adapter);
    }

    public string ModelId { get; }
    public TextClassificationPipeline Pipeline { get; }
    public PreTrainedTokenizer Tokenizer { get; }
    public int NumLabels { get; }
    public string ProblemType { get; }
    public IReadOnlyList<string> Labels { get; }
    /// <summary>The longest input (in tokens, special tokens included) the model takes.</summary>
    public int MaxInputLength { get; }

    /// <summary>One forward pass over rows of token ids; each row's logits.</summary>
    public float[][] Logits(IReadOnlyList<PredictionInput> rows)
    {
        var predictions = Pipeline.Classify(rows);
        var result = new float[predictions.Length][];
        for (int i = 0; i < result.Length; i++) result[i] = predictions[i].Logits;
        return result;
    }

    /// <summary>Each label with its score (the pipeline's function of the logits, or the logits themselves), best first.</summary>
    public (string Label, float Score)[] Rank(float[] logits, bool rawScores)
    {
        float[] scores = rawScores ? logits : TextClassificationPipeline.ApplyFunction(logits, Pipeline.FunctionToApply);
        var ranked = new (string Label, float Score)[scores.Length];
        for (int i = 0; i < scores.Length; i++) ranked[i] = (Labels[i], scores[i]);
        // Stable: equal scores keep label order, as Python's sorted does.
        var order = new int[scores.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (a, b) => scores[b] != scores[a] ? scores[b].CompareTo(scores[a]) : a.CompareTo(b));
        var sorted = new (string, float)[scores.Length];
        for (int i = 0; i < order.Length; i++) sorted[i] = ranked[order[i]];
        return sorted;
    }
}
