using Finetune.Tensors;

namespace Finetune.Models;

/// <summary>What a base encoder returns (transformers' BaseModelOutputWithPooling).</summary>
public sealed class EncoderOutput
{
    /// <summary>[batch, seq, hidden]: the last layer's output.</summary>
    public required Tensor LastHiddenState { get; init; }

    /// <summary>[batch, hidden]: tanh(dense(h[:, 0])) for models with a pooler, else null.</summary>
    public Tensor? PooledOutput { get; init; }

    /// <summary>The input to the first layer, then each layer's output (num_hidden_layers + 1 tensors), when asked for.</summary>
    public IReadOnlyList<Tensor>? HiddenStates { get; init; }

    /// <summary>Each layer's attention probabilities [batch, heads, seq, seq], when asked for.</summary>
    public IReadOnlyList<Tensor>? Attentions { get; init; }

    /// <summary>The embeddings module's output (before any embedding→hidden projection; width embedding_size).</summary>
    public required Tensor EmbeddingOutput { get; init; }
}

/// <summary>What a sequence classifier returns (transformers' SequenceClassifierOutput, plus the pooled output).</summary>
public sealed class SequenceClassifierOutput
{
    /// <summary>Scalar loss when labels were given (cross-entropy, BCE-with-logits or MSE by problem_type).</summary>
    public Tensor? Loss { get; init; }

    /// <summary>[batch, num_labels].</summary>
    public required Tensor Logits { get; init; }

    public IReadOnlyList<Tensor>? HiddenStates { get; init; }

    public Tensor? PooledOutput { get; init; }

    public IReadOnlyList<Tensor>? Attentions { get; init; }

    public Tensor? EmbeddingOutput { get; init; }

    /// <summary>The problem type the loss was computed for (null without labels).</summary>
    public string? ProblemType { get; init; }
}

/// <summary>
/// Labels for a batch: integer class ids (single-label) or floats (regression values [batch] or multi-label
/// vectors [batch, num_labels]). Converts implicitly from int[] and float[].
/// </summary>
public readonly struct Labels
{
    private Labels(int[]? ints, float[]? floats)
    {
        Ints = ints;
        Floats = floats;
    }

    public int[]? Ints { get; }
    public float[]? Floats { get; }
    public bool IsInteger => Ints != null;
    public int Length => Ints?.Length ?? Floats?.Length ?? 0;

    public static implicit operator Labels(int[] ids) => new(ids, null);
    public static implicit operator Labels(float[] values) => new(null, values);

    public float[] AsFloats()
    {
        if (Floats != null) return Floats;
        var f = new float[Ints!.Length];
        for (int i = 0; i < f.Length; i++) f[i] = Ints[i];
        return f;
    }
}

/// <summary>The input batch of an encoder: ids, mask and (for BERT-like models) segment ids, each [batch, seq].</summary>
public sealed record EncoderInputs(IntTensor InputIds, IntTensor? AttentionMask = null, IntTensor? TokenTypeIds = null)
{
    public int BatchSize => InputIds.Shape[0];
    public int SeqLen => InputIds.Shape[1];
}
