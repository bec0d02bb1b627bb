using Finetune.Tensors;
using Finetune.Tokenizers;
using Finetune.Training;

namespace Finetune.Inference;

/// <summary>One label with its score.</summary>
public readonly record struct LabelScore(string Label, double Score);

/// <summary>
/// transformers' text-classification pipeline: text (or a text pair) in, labels with scores out. Scores are the
/// softmax of the logits for single-label models and the sigmoid for multi-label or one-output models, computed
/// in float32 as the pipeline does; results sorted by score. Inputs are tokenized and run in batches.
/// </summary>
public sealed class TextClassificationPipeline
{
    private readonly ISequenceClassifier model;
    private readonly PreTrainedTokenizer tokenizer;

    public TextClassificationPipeline(ISequenceClassifier model, PreTrainedTokenizer tokenizer, int batchSize = 8, int? maxLength = null)
    {
        if (batchSize <= 0) throw FinetuneException.Invalid($"The pipeline batch size must be positive, got {batchSize}.");
        this.model = model;
        this.tokenizer = tokenizer;
        BatchSize = batchSize;
        MaxLength = maxLength;
    }

    /// <summary>
    /// pipeline("text-classification", model=dir): a model folder or Hub id and its tokenizer (default: the same
    /// folder or id, at the same <paramref name="revision"/>).
    /// </summary>
    public static TextClassificationPipeline FromPretrained(string modelDir, string? tokenizerDir = null, int batchSize = 8, int? maxLength = null, string? revision = null) =>
        new(new SequenceClassifierAdapter(Models.AutoModelForSequenceClassification.FromPretrained(modelDir, revision: revision)),
            AutoTokenizer.FromPretrained(tokenizerDir ?? modelDir, tokenizerDir == null ? revision : null), batchSize, maxLength);

    public int BatchSize { get; }
    public int? MaxLength { get; }

    /// <summary>The best label of one text (or pair).</summary>
    public LabelScore Predict(string text, string? pair = null) => Predict(new[] { text }, pair == null ? null : new[] { pair }, topK: 1)[0][0];

    /// <summary>
    /// For each input, its labels sorted by score: the best <paramref name="topK"/> (all labels when null).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<LabelScore>> Predict(IReadOnlyList<string> texts, IReadOnlyList<string>? pairs = null, int? topK = 1)
    {
        if (pairs != null && pairs.Count != texts.Count)
            throw FinetuneException.Invalid($"The pipeline got {texts.Count} texts but {pairs.Count} second texts.");
        var results = new List<IReadOnlyList<LabelScore>>(texts.Count);
        var options = new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength, Padding = PaddingStrategy.None };
        model.Module.Eval();
        var collator = new Data.DataCollatorWithPadding(tokenizer.PadTokenId);
        for (int start = 0; start < texts.Count; start += BatchSize)
        {
            int end = Math.Min(texts.Count, start + BatchSize);
            var slice = texts.Skip(start).Take(end - start).ToList();
            var pairSlice = pairs?.Skip(start).Take(end - start).ToList();
            var enc = tokenizer.EncodeBatch(slice, pairSlice, options);
            var rows = enc.Rows.Select(r => new TokenizedExample(r.InputIds, tokenTypeIds: r.TokenTypeIds, attentionMask: r.AttentionMask)).ToList();
            float[] logits;
            using (Tensor.NoGrad()) logits = model.Forward(collator.Collate(rows)).Logits.ToArray();
            int n = model.NumLabels;
            for (int i = 0; i < rows.Count; i++)
                results.Add(Rank(Scores(logits.AsSpan(i * n, n)), topK));
        }
        return results;
    }

    private float[] Scores(ReadOnlySpan<float> logits)
    {
        var s = new float[logits.Length];
        bool sigmoid = model.ProblemType == "multi_label_classification" || logits.Length == 1;
        if (sigmoid)
        {
            for (int i = 0; i < s.Length; i++) s[i] = 1f / (1f + MathF.Exp(-logits[i]));
            return s;
        }
        float max = float.NegativeInfinity;
        foreach (float v in logits) max = Math.Max(max, v);
        float sum = 0;
        for (int i = 0; i < s.Length; i++) { s[i] = MathF.Exp(logits[i] - max); sum += s[i]; }
        for (int i = 0; i < s.Length; i++) s[i] /= sum;
        return s;
    }

    private List<LabelScore> Rank(float[] scores, int? topK)
    {
        var names = model.Id2Label;
        var list = new List<LabelScore>(scores.Length);
        for (int i = 0; i < scores.Length; i++)
            list.Add(new LabelScore(names != null && names.TryGetValue(i, out var l) ? l : $"LABEL_{i}", scores[i]));
        // Stable sort by descending score (ties keep label order, as Python's sorted does).
        var sorted = list.Select((x, i) => (x, i)).OrderByDescending(t => t.x.Score).ThenBy(t => t.i).Select(t => t.x).ToList();
        return topK is int k ? sorted.Take(Math.Max(1, k)).ToList() : sorted;
    }
}
