using System.Text.Json;
using Finetune.Data;

namespace Finetune.Training;

/// <summary>One tokenized row as the Trainer consumes it (no tensors): ids, optional masks and a label.</summary>
public sealed class TokenizedExample
{
    public TokenizedExample(int[] inputIds, int label = -100, int[]? tokenTypeIds = null, int[]? attentionMask = null, float[]? floatLabels = null)
    {
        InputIds = inputIds;
        Label = label;
        TokenTypeIds = tokenTypeIds;
        AttentionMask = attentionMask;
        FloatLabels = floatLabels;
    }

    public int[] InputIds { get; }
    public int[]? TokenTypeIds { get; }
    public int[]? AttentionMask { get; }
    /// <summary>Class id for single-label classification (-100 when absent).</summary>
    public int Label { get; }
    /// <summary>Targets for regression (one value) or multi-label classification (one per label).</summary>
    public float[]? FloatLabels { get; }

    public bool HasLabel => Label != -100 || FloatLabels != null;

    /// <summary>
    /// The rows of a tokenized Dataset (input_ids, optional token_type_ids / attention_mask, an integer label
    /// column), truncated to <paramref name="maxLength"/> tokens when given.
    /// </summary>
    public static List<TokenizedExample> FromDataset(Dataset ds, string labelColumn = "label", int? maxLength = null)
    {
        if (!ds.ColumnNames.Contains("input_ids"))
            throw FinetuneException.Missing($"The dataset has no input_ids column (columns: {string.Join(", ", ds.ColumnNames)}); tokenize it first.");
        int[]? labels = ds.ColumnNames.Contains(labelColumn) ? ds.GetInts(labelColumn) : null;
        var ids = ds.GetIntLists("input_ids");
        var types = ds.ColumnNames.Contains("token_type_ids") ? ds.GetIntLists("token_type_ids") : null;
        var masks = ds.ColumnNames.Contains("attention_mask") ? ds.GetIntLists("attention_mask") : null;
        var rows = new List<TokenizedExample>(ds.NumRows);
        for (int i = 0; i < ds.NumRows; i++)
        {
            int[] row = ids[i] ?? throw FinetuneException.Invalid($"Row {i} of the dataset has no input_ids.");
            int[]? tt = types?[i], am = masks?[i];
            if (maxLength is int m && m > 0 && row.Length > m)
            {
                row = row[..m];
                tt = tt?[..m];
                am = am?[..m];
            }
            rows.Add(new TokenizedExample(row, labels?[i] ?? -100, tt, am));
        }
        return rows;
    }

    /// <summary>
    /// Reads pre-tokenized JSON lines (input_ids, optional token_type_ids / attention_mask, label or labels), the
    /// layout of golden/training/data and of datasets saved after tokenization.
    /// </summary>
    public static List<TokenizedExample> LoadJsonl(string path) =>
        JsonLines.Read(path, "dataset file", (o, lineNo) =>
        {
            if (!o.TryGetProperty("input_ids", out var ids))
                throw FinetuneException.Missing($"'{path}' line {lineNo} has no input_ids column.");
            int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            int[]? tt = o.TryGetProperty("token_type_ids", out var t) ? Ints(t) : null;
            int[]? am = o.TryGetProperty("attention_mask", out var a) ? Ints(a) : null;
            int label = -100;
            float[]? floats = null;
            if (o.TryGetProperty("label", out var l) || o.TryGetProperty("labels", out l))
            {
                if (l.ValueKind == JsonValueKind.Array) floats = l.EnumerateArray().Select(x => x.GetSingle()).ToArray();
                else if (l.TryGetInt32(out int li)) label = li;
                else floats = new[] { l.GetSingle() };
            }
            return new TokenizedExample(Ints(ids), label, tt, am, floats);
        }, " is not a valid tokenized row");
}

/// <summary>
/// Pads lists of <see cref="TokenizedExample"/> with Data's <see cref="DataCollatorWithPadding"/> (the one collator
/// of the library): class ids become <see cref="Batch.Labels"/>, regression and multi-label targets
/// <see cref="Batch.FloatLabels"/>.
/// </summary>
public static class TokenizedExampleBatching
{
    /// <summary>Pads all of <paramref name="rows"/> into one batch.</summary>
    public static Batch Collate(this DataCollatorWithPadding collator, IReadOnlyList<TokenizedExample> rows, bool withLabels = true)
    {
        var order = new int[rows.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        return collator.Collate(Columns(rows, withLabels), order);
    }

    /// <summary>The collator's view of the rows, built once per dataset (no copies of the token arrays).</summary>
    internal static TokenizedColumns Columns(IReadOnlyList<TokenizedExample> rows, bool withLabels = true)
    {
        int n = rows.Count;
        var ids = new int[]?[n];
        int[]?[]? types = null, masks = null;
        bool allFloat = n > 0, anyInt = false;
        for (int i = 0; i < n; i++)
        {
            var r = rows[i];
            ids[i] = r.InputIds;
            if (r.TokenTypeIds != null) (types ??= new int[]?[n])[i] = r.TokenTypeIds;
            if (r.AttentionMask != null) (masks ??= new int[]?[n])[i] = r.AttentionMask;
            allFloat &= r.FloatLabels != null;
            anyInt |= r.FloatLabels == null && r.Label != -100;
        }
        // A row left without a mask (null) gets ones over its tokens from the collator.
        int[]? ints = null;
        float[]?[]? floats = null;
        bool anyFloat = false;
        for (int i = 0; i < n && !anyFloat; i++) anyFloat = rows[i].FloatLabels != null;
        if (withLabels && !anyFloat && anyInt)
        {
            ints = new int[n];
            for (int i = 0; i < n; i++) ints[i] = rows[i].Label;
        }
        else if (withLabels && allFloat)
        {
            floats = new float[]?[n];
            for (int i = 0; i < n; i++) floats[i] = rows[i].FloatLabels;
        }
        return new TokenizedColumns { InputIds = ids, TokenTypeIds = types, AttentionMask = masks, IntLabels = ints, MultiLabels = floats };
    }
}
