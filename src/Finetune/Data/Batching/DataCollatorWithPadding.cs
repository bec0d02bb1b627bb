using Finetune.Tokenizers;

namespace Finetune.Data;

/// <summary>
/// transformers' DataCollatorWithPadding (padding: the tokenizer's <see cref="PaddingStrategy"/>, as transformers shares one) over tokenized dataset columns: `input_ids` (required), `attention_mask`
/// (made of ones when absent), `token_type_ids` (padded with 0) and the label column `label`, `labels` or
/// `label_ids` (ints become <see cref="Batch.Labels"/>, floats <see cref="Batch.FloatLabels"/>).
/// </summary>
public sealed class DataCollatorWithPadding
{
    public DataCollatorWithPadding(int padTokenId, PaddingStrategy padding = PaddingStrategy.Longest, int? maxLength = null, int? padToMultipleOf = null, PaddingSide paddingSide = PaddingSide.Right)
    {
        if (padding == PaddingStrategy.MaxLength && maxLength is null) throw new ArgumentException("padding to max_length needs maxLength");
        if (padToMultipleOf is <= 0) throw new ArgumentException("padToMultipleOf must be positive");
        PadTokenId = padTokenId;
        Padding = padding;
        MaxLength = maxLength;
        PadToMultipleOf = padToMultipleOf;
        Side = paddingSide;
    }

    public int PadTokenId { get; }

    public PaddingStrategy Padding { get; }

    public int? MaxLength { get; }

    public int? PadToMultipleOf { get; }

    public PaddingSide Side { get; }

    /// <summary>Pads the given rows of a tokenized dataset into one batch.</summary>
    public Batch Collate(Dataset ds, ReadOnlySpan<int> rows) => Collate(TokenizedColumns.Of(ds), rows);

    /// <summary>Pads all rows of <paramref name="cols"/>, in order, into one batch.</summary>
    internal Batch CollateAll(TokenizedColumns cols)
    {
        var rows = new int[cols.InputIds.Length];
        for (int i = 0; i < rows.Length; i++) rows[i] = i;
        return Collate(cols, rows);
    }

    internal Batch Collate(TokenizedColumns cols, ReadOnlySpan<int> rows)
    {
        int b = rows.Length;
        int longest = 0;
        foreach (int r in rows) longest = Math.Max(longest, cols.InputIds[r]?.Length ?? 0);
        int t = Padding == PaddingStrategy.MaxLength ? MaxLength!.Value : longest;
        // padding=False (do_not_pad): the rows must already have one length, as tokenizer.pad requires to make a tensor.
        if (Padding == PaddingStrategy.None)
            foreach (int r in rows)
                if ((cols.InputIds[r]?.Length ?? 0) != longest)
                    throw FinetuneException.Invalid($"Without padding every row of a batch needs the same length, but row {r} has {cols.InputIds[r]?.Length ?? 0} tokens and another {longest}.");
        if (longest > t)
            throw FinetuneException.Invalid($"A row has {longest} tokens, more than max_length {t}; tokenize with truncation to max_length first.");
        if (PadToMultipleOf is int m && t % m != 0) t = (t / m + 1) * m;
        var ids = new int[b * t];
        var mask = new int[b * t];
        int[]? types = cols.TokenTypeIds != null ? new int[b * t] : null;
        if (PadTokenId != 0) Array.Fill(ids, PadTokenId);
        for (int i = 0; i < b; i++)
        {
            int r = rows[i];
            int[] src = cols.InputIds[r] ?? Array.Empty<int>();
            int n = src.Length;
            int at = i * t + (Side == PaddingSide.Left ? t - n : 0);
            src.CopyTo(ids, at);
            int[]? am = cols.AttentionMask?[r];
            if (am != null) am.CopyTo(mask, at);
            else mask.AsSpan(at, n).Fill(1);
            cols.TokenTypeIds?[r]?.CopyTo(types!, at);
        }
        int[]? labels = null;
        float[]? floatLabels = null;
        int width = 1;
        if (cols.IntLabels != null)
        {
            labels = new int[b];
            for (int i = 0; i < b; i++) labels[i] = cols.IntLabels[rows[i]];
        }
        else if (cols.FloatLabels != null)
        {
            floatLabels = new float[b];
            for (int i = 0; i < b; i++) floatLabels[i] = cols.FloatLabels[rows[i]];
        }
        else if (cols.MultiLabels != null)
        {
            width = cols.MultiLabels[rows[0]]?.Length ?? 0;
            floatLabels = new float[b * width];
            for (int i = 0; i < b; i++)
            {
                var v = cols.MultiLabels[rows[i]];
                if (v == null || v.Length != width) throw FinetuneException.Invalid($"Row {rows[i]} has {v?.Length ?? 0} labels but row {rows[0]} has {width}; multi-label rows must all have the same number.");
                for (int k = 0; k < width; k++) floatLabels[i * width + k] = v[k];
            }
        }
        return new Batch
        {
            BatchSize = b,
            SeqLen = t,
            InputIds = ids,
            AttentionMask = mask,
            TokenTypeIds = types,
            Labels = labels,
            FloatLabels = floatLabels,
            LabelWidth = width,
            RowIndices = rows.ToArray(),
        };
    }
}

/// <summary>The columns a collator reads, fetched once per dataset.</summary>
internal sealed class TokenizedColumns
{
    public required int[]?[] InputIds { get; init; }
    public int[]?[]? AttentionMask { get; init; }
    public int[]?[]? TokenTypeIds { get; init; }
    public int[]? IntLabels { get; init; }
    public float[]? FloatLabels { get; init; }
    /// <summary>Multi-label (or per-row vector) targets, one array per row.</summary>
    public float[]?[]? MultiLabels { get; init; }

    public static TokenizedColumns Of(Dataset ds)
    {
        if (!ds.Features.Contains("input_ids"))
            throw FinetuneException.Missing($"The dataset has no 'input_ids' column (columns: {string.Join(", ", ds.ColumnNames)}); map a tokenizer over it first.");
        string? label = new[] { "labels", "label", "label_ids" }.FirstOrDefault(ds.Features.Contains);
        int[]? ints = null;
        float[]? floats = null;
        float[]?[]? multi = null;
        if (label != null)
        {
            var storage = ds.Features[label].Storage;
            if (storage is DType.Float32 or DType.Float64) floats = ds.GetFloats(label);
            else if (storage == DType.Int32List) multi = Array.ConvertAll(ds.GetIntLists(label), v => v == null ? null : Array.ConvertAll(v, x => (float)x));
            else ints = ds.GetInts(label);
        }
        return new TokenizedColumns
        {
            InputIds = ds.GetIntLists("input_ids"),
            AttentionMask = ds.Features.Contains("attention_mask") ? ds.GetIntLists("attention_mask") : null,
            TokenTypeIds = ds.Features.Contains("token_type_ids") ? ds.GetIntLists("token_type_ids") : null,
            IntLabels = ints,
            FloatLabels = floats,
            MultiLabels = multi,
        };
    }

    /// <summary>Unlabelled rows already in memory (a pipeline's encodings); a null mask means ones over the tokens.</summary>
    public static TokenizedColumns FromRows(int[]?[] inputIds, int[]?[]? tokenTypeIds = null, int[]?[]? attentionMask = null) =>
        new() { InputIds = inputIds, TokenTypeIds = AnyRow(tokenTypeIds), AttentionMask = AnyRow(attentionMask) };

    // A column no row has is left out, so the batch has none either (a model without token types gets no zeros).
    private static int[]?[]? AnyRow(int[]?[]? rows)
    {
        if (rows != null)
            foreach (var r in rows)
                if (r != null) return rows;
        return null;
    }

    /// <summary>Does every row carry a target? Class ids of -100 (transformers' ignore index) mark rows without one.</summary>
    public bool HasLabels
    {
        get
        {
            if (FloatLabels != null || MultiLabels != null) return true;
            if (IntLabels == null) return false;
            foreach (int l in IntLabels)
                if (l == -100) return false;
            return true;
        }
    }

    public int Length(int row) => InputIds[row]?.Length ?? 0;
}
