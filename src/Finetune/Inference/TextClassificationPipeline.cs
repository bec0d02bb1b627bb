using Finetune.Data;
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
    private readonly PreTrainedTokenizer? tokenizer;
    private readonly int vocabSize;

    /// <param name="model">The classifier.</param>
    /// <param name="tokenizer">Needed for text inputs; token-id inputs (<see cref="Classify"/>) work without one.</param>
    /// <param name="batchSize">Rows per forward pass.</param>
    /// <param name="maxLength">Truncation length for texts (default: what the tokenizer and the model accept).</param>
    /// <param name="functionToApply">transformers' function_to_apply; by default sigmoid for multi-label or one-output
    /// models, softmax otherwise.</param>
    public TextClassificationPipeline(ISequenceClassifier model, PreTrainedTokenizer? tokenizer, int batchSize = 8, int? maxLength = null, ClassificationFunction? functionToApply = null)
    {
        if (batchSize <= 0) throw FinetuneException.Invalid($"The pipeline batch size must be positive, got {batchSize}.");
        this.model = model;
        this.tokenizer = tokenizer;
        BatchSize = batchSize;
        MaxLength = maxLength;
        FunctionToApply = functionToApply ?? (model.ProblemType == "multi_label_classification" || model.NumLabels == 1 ? ClassificationFunction.Sigmoid : ClassificationFunction.Softmax);
        vocabSize = model.Module.NamedParameters().FirstOrDefault(p => p.Name.EndsWith("word_embeddings.weight", StringComparison.Ordinal)).Value?.Shape[0] ?? int.MaxValue;
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
    public ClassificationFunction FunctionToApply { get; }

    /// <summary>The longest input the model's position embeddings allow (RoBERTa's positions start after padding_idx).</summary>
    public int MaxTokens => (model as SequenceClassifierAdapter)?.Model.Config is { } config && Models.ModelRegistry.Find(config.ModelType) is { } family
        ? family.MaxTokens(config) : int.MaxValue;

    /// <summary>How texts are truncated: <see cref="MaxLength"/>, else what both the tokenizer and the model accept.</summary>
    public EncodeOptions EncodeOptions => new()
    {
        Truncation = TruncationStrategy.LongestFirst,
        MaxLength = MaxLength ?? Math.Min(tokenizer?.ModelMaxLength ?? int.MaxValue, MaxTokens),
        Padding = PaddingStrategy.None,
    };

    /// <summary>The best label of one text (or pair).</summary>
    public LabelScore Predict(string text, string? pair = null) => Predict(new[] { text }, pair == null ? null : new[] { pair }, topK: 1)[0][0];

    /// <summary>
    /// For each input, its labels sorted by score: the best <paramref name="topK"/> (all labels when null).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<LabelScore>> Predict(IReadOnlyList<string> texts, IReadOnlyList<string>? pairs = null, int? topK = 1)
    {
        if (pairs != null && pairs.Count != texts.Count)
            throw FinetuneException.Invalid($"The pipeline got {texts.Count} texts but {pairs.Count} second texts.");
        var tok = tokenizer ?? throw FinetuneException.Invalid("The pipeline has no tokenizer, so it cannot classify text; pass token ids or a tokenizer.");
        var results = new List<IReadOnlyList<LabelScore>>(texts.Count);
        var options = EncodeOptions;
        for (int start = 0; start < texts.Count; start += BatchSize)
        {
            int end = Math.Min(texts.Count, start + BatchSize);
            var slice = texts.Skip(start).Take(end - start).ToList();
            var pairSlice = pairs?.Skip(start).Take(end - start).ToList();
            var enc = tok.EncodeBatch(slice, pairSlice, options);
            int count = enc.Count;
            var ids = new int[]?[count];
            var types = new int[]?[count];
            var masks = new int[]?[count];
            for (int i = 0; i < count; i++) (ids[i], types[i], masks[i]) = (enc[i].InputIds, enc[i].TokenTypeIds, enc[i].AttentionMask);
            float[] logits = Logits(TokenizedColumns.FromRows(ids, types, masks));
            int n = model.NumLabels;
            for (int i = 0; i < count; i++)
                results.Add(Rank(ApplyFunction(logits.AsSpan(i * n, n), FunctionToApply), topK));
        }
        return results;
    }

    /// <summary>
    /// Token ids in (rows may differ in length), one <see cref="Prediction"/> per row out: logits, the scores of
    /// <see cref="FunctionToApply"/>, the best label, and for regression the value.
    /// </summary>
    public Prediction[] Classify(IReadOnlyList<PredictionInput> inputs)
    {
        if (inputs.Count == 0) return Array.Empty<Prediction>();
        var ids = new int[]?[inputs.Count];
        var types = new int[]?[inputs.Count];
        var masks = new int[]?[inputs.Count];
        for (int r = 0; r < inputs.Count; r++)
        {
            var x = inputs[r];
            if (x.InputIds.Length == 0) throw FinetuneException.Invalid($"Example {r} has no input_ids.");
            for (int i = 0; i < x.InputIds.Length; i++)
                if ((uint)x.InputIds[i] >= (uint)vocabSize)
                    throw FinetuneException.Invalid($"Example {r}: token id {x.InputIds[i]} at position {i} is outside the model's vocabulary of {vocabSize}.");
            (ids[r], types[r], masks[r]) = (x.InputIds, x.TokenTypeIds, x.AttentionMask);
        }
        float[] logits = Logits(TokenizedColumns.FromRows(ids, types, masks));
        int n = model.NumLabels;
        var result = new Prediction[inputs.Count];
        for (int r = 0; r < inputs.Count; r++) result[r] = Read(logits.AsSpan(r * n, n).ToArray());
        return result;
    }

    /// <summary>One forward pass without gradients over right-padded rows; logits [rows × NumLabels].</summary>
    private float[] Logits(TokenizedColumns rows)
    {
        model.Module.Eval();
        var collator = new Data.DataCollatorWithPadding(tokenizer?.PadTokenId ?? PadTokenIdOfModel());
        using var scope = TensorScope.Begin(); // every activation goes back to the pool when the batch is done
        using (Tensor.NoGrad()) return model.Forward(collator.CollateAll(rows)).Logits.ToArray();
    }

    private int PadTokenIdOfModel() => (model as SequenceClassifierAdapter)?.Model.Config.PadTokenId ?? 0;

    private Prediction Read(float[] logits)
    {
        if (FunctionToApply == ClassificationFunction.None)
            return new Prediction(logits, null, null, logits[0], null, logits[0]);
        float[] probs = ApplyFunction(logits, FunctionToApply);
        int best = 0;
        for (int i = 1; i < probs.Length; i++)
            if (probs[i] > probs[best]) best = i;
        IReadOnlyList<string>? above = model.ProblemType == "multi_label_classification"
            ? Enumerable.Range(0, probs.Length).Where(i => probs[i] >= 0.5f).Select(LabelName).ToList() : null;
        return new Prediction(logits, probs, LabelName(best), probs[best], above, null);
    }

    /// <summary>id2label[i], or LABEL_i when the config has none.</summary>
    public string LabelName(int i) => model.Id2Label != null && model.Id2Label.TryGetValue(i, out var l) ? l : $"LABEL_{i}";

    /// <summary>The pipeline's postprocess in float32: sigmoid, softmax (max-shifted) or the raw outputs.</summary>
    public static float[] ApplyFunction(ReadOnlySpan<float> logits, ClassificationFunction function)
    {
        var s = new float[logits.Length];
        if (function == ClassificationFunction.None)
        {
            logits.CopyTo(s);
            return s;
        }
        if (function == ClassificationFunction.Sigmoid)
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
        var list = new List<LabelScore>(scores.Length);
        for (int i = 0; i < scores.Length; i++) list.Add(new LabelScore(LabelName(i), scores[i]));
        // Stable sort by descending score (ties keep label order, as Python's sorted does).
        var sorted = list.Select((x, i) => (x, i)).OrderByDescending(t => t.x.Score).ThenBy(t => t.i).Select(t => t.x).ToList();
        return topK is int k ? sorted.Take(Math.Max(1, k)).ToList() : sorted;
    }
}
