namespace Finetune.Data;

/// <summary>
/// A padded batch as plain arrays, row-major: <see cref="InputIds"/> is [BatchSize × SeqLen]. Labels are
/// <see cref="Labels"/> (class ids) or <see cref="FloatLabels"/> (regression / multi-label, [BatchSize × LabelWidth]).
/// </summary>
public sealed class Batch
{
    public required int BatchSize { get; init; }

    public required int SeqLen { get; init; }

    public required int[] InputIds { get; init; }

    public required int[] AttentionMask { get; init; }

    public int[]? TokenTypeIds { get; init; }

    public int[]? Labels { get; init; }

    public float[]? FloatLabels { get; init; }

    /// <summary>Values per row in <see cref="FloatLabels"/> (1 for regression, the number of labels for multi-label).</summary>
    public int LabelWidth { get; init; } = 1;

    /// <summary>The dataset rows this batch holds, in order.</summary>
    public int[] RowIndices { get; init; } = Array.Empty<int>();

    /// <summary>Real (non-padding) tokens in the batch.</summary>
    public int TokenCount
    {
        get
        {
            int n = 0;
            foreach (int m in AttentionMask) n += m;
            return n;
        }
    }
}
