using System.Text.Json;

namespace Finetune.Serving;

/// <summary>TEI's /embed body: `inputs` is a text or a list of texts; `truncate` defaults to false, `normalize` to the model's config.</summary>
internal sealed record EmbedRequest(IReadOnlyList<string> Inputs, bool Truncate, bool Normalize)
{
    public static EmbedRequest Parse(JsonElement root, int maxClientBatchSize, bool modelNormalizes)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiError.Malformed("The body must be a JSON object with \"inputs\".");
        if (!root.TryGetProperty("inputs", out var inputs)) throw ApiError.Malformed("The body has no \"inputs\".");
        bool truncate = PredictRequest.Flag(root, "truncate"), normalize = PredictRequest.Flag(root, "normalize", modelNormalizes);
        var list = new List<string>();
        if (inputs.ValueKind == JsonValueKind.String) list.Add(inputs.GetString()!);
        else if (inputs.ValueKind == JsonValueKind.Array)
        {
            int n = inputs.GetArrayLength();
            if (n == 0) throw ApiError.Empty("`inputs` cannot be empty.");
            if (n > maxClientBatchSize) throw ApiError.Validation($"batch size {n} > maximum allowed batch size {maxClientBatchSize}");
            foreach (var s in inputs.EnumerateArray())
                list.Add(s.ValueKind == JsonValueKind.String ? s.GetString()! : throw ApiError.Malformed("\"inputs\" must be a string or a list of strings."));
        }
        else throw ApiError.Malformed("\"inputs\" must be a string or a list of strings.");
        foreach (string t in list)
            if (t.Length == 0) throw ApiError.Empty("`inputs` cannot hold an empty text.");
        return new EmbedRequest(list, truncate, normalize);
    }
}
