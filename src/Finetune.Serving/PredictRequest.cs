using System.Text.Json;

namespace Finetune.Serving;

/// <summary>
/// TEI's /predict body: `inputs` is a text, a pair `[text, text_pair]`, or a batch of `[text]` / `[text,
/// text_pair]`; `truncate` and `raw_scores` default to false.
/// </summary>
internal sealed record PredictRequest(IReadOnlyList<(string Text, string? Pair)> Inputs, bool IsBatch, bool Truncate, bool RawScores)
{
    public static PredictRequest Parse(JsonElement root, int maxClientBatchSize)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiError.Malformed("The body must be a JSON object with \"inputs\".");
        if (!root.TryGetProperty("inputs", out var inputs)) throw ApiError.Malformed("The body has no \"inputs\".");
        bool truncate = Flag(root, "truncate"), raw = Flag(root, "raw_scores");
        var list = new List<(string, string?)>();
        bool batch = false;
        switch (inputs.ValueKind)
        {
            case JsonValueKind.String:
                list.Add((inputs.GetString()!, null));
                break;
            case JsonValueKind.Array:
                int n = inputs.GetArrayLength();
                if (n == 0) throw ApiError.Empty("`inputs` cannot be empty.");
                if (inputs[0].ValueKind == JsonValueKind.String)
                {
                    list.Add(Sequence(inputs, "inputs"));
                    break;
                }
                batch = true;
                if (n > maxClientBatchSize)
                    throw ApiError.Validation($"batch size {n} > maximum allowed batch size {maxClientBatchSize}");
                int i = 0;
                foreach (var item in inputs.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Array) throw ApiError.Malformed($"inputs[{i}] must be [text] or [text, text_pair] like the other batch items.");
                    list.Add(Sequence(item, $"inputs[{i}]"));
                    i++;
                }
                break;
            default:
                throw ApiError.Malformed("\"inputs\" must be a string, a pair [string, string] or a batch [[string], [string, string], ...].");
        }
        foreach (var (text, pair) in list)
            if (text.Length == 0 || pair is { Length: 0 }) throw ApiError.Empty("`inputs` cannot hold an empty text.");
        return new PredictRequest(list, batch, truncate, raw);
    }

    /// <summary>[text] or [text, text_pair].</summary>
    private static (string, string?) Sequence(JsonElement array, string where)
    {
        int n = array.GetArrayLength();
        if (n is < 1 or > 2) throw ApiError.Malformed($"{where} must hold one text or a pair of texts, not {n} items.");
        foreach (var s in array.EnumerateArray())
            if (s.ValueKind != JsonValueKind.String) throw ApiError.Malformed($"{where} must hold strings, not {s.ValueKind.ToString().ToLowerInvariant()}.");
        return (array[0].GetString()!, n == 2 ? array[1].GetString() : null);
    }

    internal static bool Flag(JsonElement root, string name, bool fallback = false)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiError.Malformed($"\"{name}\" must be true or false."),
        };
    }
}
