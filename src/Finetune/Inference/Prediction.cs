namespace Finetune.Inference;

/// <summary>One example to classify: token ids and optional mask / segment ids (same length).</summary>
public sealed record PredictionInput(int[] InputIds, int[]? AttentionMask = null, int[]? TokenTypeIds = null);

/// <summary>
/// A model's answer for one example. Single-label: softmax <see cref="Probs"/>, the arg-max <see cref="Label"/>
/// and its probability as <see cref="Score"/>. Multi-label: sigmoid probabilities, <see cref="Labels"/> at ≥ 0.5,
/// Label/Score of the most likely one. Regression: <see cref="Value"/> (= Score), no probabilities.
/// </summary>
public sealed record Prediction(float[] Logits, float[]? Probs, string? Label, float Score, IReadOnlyList<string>? Labels, float? Value);

/// <summary>transformers' ClassificationFunction: what turns logits into scores.</summary>
public enum ClassificationFunction
{
    Sigmoid,
    Softmax,
    /// <summary>The raw outputs (regression).</summary>
    None,
}
