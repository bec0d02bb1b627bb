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
    public static List<TokenizedExample> LoadJsonl(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"The dataset file '{path}' does not exist.");
        var rows = new List<TokenizedExample>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
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
                rows.Add(new TokenizedExample(Ints(ids), label, tt, am, floats));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw FinetuneException.Invalid($"'{path}' line {lineNo} is not a valid tokenized row: {e.Message}", e);
            }
        }
        return rows;
    }
}

/// <summary>A padded batch as flat row-major arrays [BatchSize * SeqLen].</summary>
public sealed class ModelBatch
{
    public required int[] InputIds { get; init; }
    public required int[] AttentionMask { get; init; }
    public int[]? TokenTypeIds { get; init; }
    public required int BatchSize { get; init; }
    public required int SeqLen { get; init; }
    /// <summary>Class ids [BatchSize] (single-label), or null.</summary>
    public int[]? Labels { get; init; }
    /// <summary>Float targets [BatchSize] (regression) or [BatchSize * NumLabels] (multi-label), or null.</summary>
    public float[]? FloatLabels { get; init; }
}

/// <summary>
/// DataCollatorWithPadding: pads each batch to its longest row (optionally to a multiple), attention mask 1 on
/// real tokens, token type 0 and the pad id on padding; right padding.
/// </summary>
public sealed class PaddingCollator
{
    public PaddingCollator(int padTokenId = 0, int? padToMultipleOf = null)
    {
        PadTokenId = padTokenId;
        PadToMultipleOf = padToMultipleOf;
    }

    public int PadTokenId { get; }
    public int? PadToMultipleOf { get; }

    public ModelBatch Collate(IReadOnlyList<TokenizedExample> rows)
    {
        int b = rows.Count;
        int t = 0;
        foreach (var r in rows) t = Math.Max(t, r.InputIds.Length);
        if (PadToMultipleOf is int m && m > 0 && t % m != 0) t += m - t % m;
        var ids = new int[b * t];
        var mask = new int[b * t];
        bool anyTypes = rows.Any(r => r.TokenTypeIds != null);
        int[]? types = anyTypes ? new int[b * t] : null;
        bool intLabels = rows.All(r => r.FloatLabels == null) && rows.Any(r => r.Label != -100);
        bool floatLabels = rows.All(r => r.FloatLabels != null);
        int[]? labels = intLabels ? new int[b] : null;
        float[]? fl = floatLabels ? new float[b * rows[0].FloatLabels!.Length] : null;
        for (int i = 0; i < b; i++)
        {
            var r = rows[i];
            int n = r.InputIds.Length;
            Array.Fill(ids, PadTokenId, i * t, t);
            r.InputIds.CopyTo(ids, i * t);
            if (r.AttentionMask != null) r.AttentionMask.CopyTo(mask, i * t);
            else Array.Fill(mask, 1, i * t, n);
            r.TokenTypeIds?.CopyTo(types!, i * t);
            if (labels != null) labels[i] = r.Label;
            if (fl != null) r.FloatLabels!.CopyTo(fl, i * r.FloatLabels!.Length);
        }
        return new ModelBatch { InputIds = ids, AttentionMask = mask, TokenTypeIds = types, BatchSize = b, SeqLen = t, Labels = labels, FloatLabels = fl };
    }
}
