using Finetune.Models.Bert;
using Finetune.Models.DistilBert;
using Finetune.Models.Roberta;
using Finetune.Tensors;

namespace Finetune.Models;

/// <summary>One example to classify: token ids and optional mask / segment ids (same length).</summary>
public sealed record PredictionInput(int[] InputIds, int[]? AttentionMask = null, int[]? TokenTypeIds = null);

/// <summary>
/// A model's answer for one example. Single-label: softmax <see cref="Probs"/>, the arg-max <see cref="Label"/>
/// and its probability as <see cref="Score"/>. Multi-label: sigmoid probabilities, <see cref="Labels"/> at ≥ 0.5,
/// Label/Score of the most likely one. Regression: <see cref="Value"/> (= Score), no probabilities.
/// </summary>
public sealed record Prediction(float[] Logits, float[]? Probs, string? Label, float Score, IReadOnlyList<string>? Labels, float? Value);

/// <summary>Batched inference for a sequence classifier: pads each batch, runs without gradients, reads off labels.</summary>
public sealed class SequenceClassificationPredictor
{
    private readonly SequenceClassificationModel _model;
    private readonly int _vocab;
    private readonly int _pad;

    public SequenceClassificationPredictor(SequenceClassificationModel model)
    {
        _model = model;
        _vocab = model.NamedParameters().First(p => p.Name.EndsWith("word_embeddings.weight", StringComparison.Ordinal)).Value.Shape[0];
        _pad = model.Config.PadTokenId ?? 0;
        ProblemType = model.Config.ProblemType ?? (model.NumLabels == 1 ? ProblemTypes.Regression : ProblemTypes.SingleLabel);
    }

    /// <summary>The longest input the position embeddings allow (RoBERTa's positions start after padding_idx).</summary>
    public int MaxTokens => _model.Config switch
    {
        RobertaConfig r => r.MaxPositionEmbeddings - r.PaddingIdx - 1,
        BertConfig b => b.MaxPositionEmbeddings,
        DistilBertConfig d => d.MaxPositionEmbeddings,
        _ => int.MaxValue,
    };

    /// <summary>How outputs are read: the configured problem_type, else regression for one label, else single-label.</summary>
    public string ProblemType { get; }

    /// <summary>Classifies <paramref name="batch"/> (rows may differ in length; they are right-padded).</summary>
    public Prediction[] Predict(IReadOnlyList<PredictionInput> batch)
    {
        if (batch.Count == 0) return Array.Empty<Prediction>();
        int rows = batch.Count;
        int len = batch.Max(r => r.InputIds.Length);
        if (len == 0) throw FinetuneException.Invalid("An example has no input_ids.");
        var ids = new int[rows * len];
        var mask = new int[rows * len];
        var types = new int[rows * len];
        bool anyTypes = false;
        Array.Fill(ids, _pad);
        for (int r = 0; r < rows; r++)
        {
            var x = batch[r];
            for (int i = 0; i < x.InputIds.Length; i++)
            {
                int id = x.InputIds[i];
                if (id < 0 || id >= _vocab) throw FinetuneException.Invalid($"Example {r}: token id {id} at position {i} is outside the model's vocabulary of {_vocab}.");
                ids[r * len + i] = id;
                mask[r * len + i] = x.AttentionMask?[i] ?? 1;
            }
            if (x.TokenTypeIds != null)
            {
                anyTypes = true;
                x.TokenTypeIds.AsSpan().CopyTo(types.AsSpan(r * len));
            }
        }
        _model.Eval();
        float[] logits;
        using (TensorScope.Begin()) // every activation goes back to the pool when the batch is done
        using (Tensor.NoGrad())
        {
            var output = _model.Forward(new EncoderInputs(IntTensor.FromArray(ids, rows, len), IntTensor.FromArray(mask, rows, len),
                anyTypes ? IntTensor.FromArray(types, rows, len) : null));
            logits = output.Logits.ToArray();
        }
        int n = _model.NumLabels;
        var labels = _model.Config.Id2Label;
        var result = new Prediction[rows];
        for (int r = 0; r < rows; r++) result[r] = Read(logits.AsSpan(r * n, n).ToArray(), labels);
        return result;
    }

    private Prediction Read(float[] logits, IReadOnlyDictionary<int, string> names)
    {
        string Name(int i) => names.TryGetValue(i, out var s) ? s : $"LABEL_{i}";
        if (ProblemType == ProblemTypes.Regression)
            return new Prediction(logits, null, null, logits[0], null, logits[0]);
        float[] probs = new float[logits.Length];
        if (ProblemType == ProblemTypes.MultiLabel)
        {
            for (int i = 0; i < probs.Length; i++) probs[i] = 1f / (1f + MathF.Exp(-logits[i]));
        }
        else
        {
            float max = logits.Max();
            double sum = 0;
            for (int i = 0; i < probs.Length; i++) sum += Math.Exp(logits[i] - max);
            for (int i = 0; i < probs.Length; i++) probs[i] = (float)(Math.Exp(logits[i] - max) / sum);
        }
        int best = 0;
        for (int i = 1; i < probs.Length; i++)
            if (probs[i] > probs[best]) best = i;
        IReadOnlyList<string>? above = ProblemType == ProblemTypes.MultiLabel
            ? Enumerable.Range(0, probs.Length).Where(i => probs[i] >= 0.5f).Select(Name).ToList() : null;
        return new Prediction(logits, probs, Name(best), probs[best], above, null);
    }
}
