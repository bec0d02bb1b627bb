namespace Finetune.Tokenizers;

public enum TruncationStrategy { None, LongestFirst, OnlyFirst, OnlySecond }

public enum PaddingStrategy { None, Longest, MaxLength }

public enum PaddingSide { Right, Left }

/// <summary>What `tokenizer(text, ...)` takes in Python: special tokens, truncation, padding.</summary>
public sealed record EncodeOptions
{
    public bool AddSpecialTokens { get; init; } = true;
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.None;
    /// <summary>Length limit for truncation and for <see cref="PaddingStrategy.MaxLength"/>; null = the tokenizer's model_max_length.</summary>
    public int? MaxLength { get; init; }
    public PaddingStrategy Padding { get; init; } = PaddingStrategy.None;
    public int? PadToMultipleOf { get; init; }
    /// <summary>Null = the tokenizer's padding side (tokenizer_config.json padding_side, default right).</summary>
    public PaddingSide? PaddingSide { get; init; }

    /// <summary>With <see cref="ReturnOverflowingTokens"/>: how many tokens consecutive overflow windows share.</summary>
    public int Stride { get; init; }
    /// <summary>Truncated-away tokens come back as extra rows (windows of the truncated length, overlapping by <see cref="Stride"/>), as return_overflowing_tokens in Python.</summary>
    public bool ReturnOverflowingTokens { get; init; }

    public static EncodeOptions Default { get; } = new();
}

/// <summary>One encoded sequence (or pair), as plain arrays.</summary>
public sealed class Encoding
{
    public required int[] InputIds { get; init; }
    public required int[] TokenTypeIds { get; init; }
    public required int[] AttentionMask { get; init; }
    public required int[] SpecialTokensMask { get; init; }
    /// <summary>(start, end) UTF-16 offsets into the original text (the pair's own text for its tokens); (0,0) for special and pad tokens.</summary>
    public required (int Start, int End)[] Offsets { get; init; }
    /// <summary>Index of the pre-tokenized word each token came from, or null for special and pad tokens.</summary>
    public required int?[] WordIds { get; init; }
    /// <summary>Which sequence (0 or 1) each token came from, or null for special and pad tokens.</summary>
    public required int?[] SequenceIds { get; init; }
    public required string[] Tokens { get; init; }

    public int Length => InputIds.Length;
}

/// <summary>The result of encoding one text, a pair or a batch: one <see cref="Encoding"/> per row.</summary>
public sealed class BatchEncoding(IReadOnlyList<Encoding> rows, int[]? overflowToSampleMapping = null)
{
    public IReadOnlyList<Encoding> Rows { get; } = rows;

    /// <summary>For each row, the index of the input it came from (differs from the row index only with overflowing tokens).</summary>
    public int[] OverflowToSampleMapping { get; } = overflowToSampleMapping ?? Enumerable.Range(0, rows.Count).ToArray();

    public int Count => Rows.Count;

    public Encoding this[int i] => Rows[i];

    public int[][] InputIds => Rows.Select(r => r.InputIds).ToArray();
    public int[][] TokenTypeIds => Rows.Select(r => r.TokenTypeIds).ToArray();
    public int[][] AttentionMask => Rows.Select(r => r.AttentionMask).ToArray();
    public int[][] SpecialTokensMask => Rows.Select(r => r.SpecialTokensMask).ToArray();
    public (int Start, int End)[][] Offsets => Rows.Select(r => r.Offsets).ToArray();
    public int?[][] WordIds => Rows.Select(r => r.WordIds).ToArray();
    public string[][] Tokens => Rows.Select(r => r.Tokens).ToArray();
}
