using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Data.Arrow;

/// <summary>
/// One column's type as `datasets` serialises it, kept with the exact dtype it names: our <see cref="FeatureType"/>
/// folds int8/int16 into int32 storage, but the Arrow column must still be checked against the declared dtype.
/// </summary>
/// <param name="Type">The feature as this library holds it.</param>
/// <param name="Dtype">The value dtype (`int64` for a ClassLabel; the element's dtype for a list).</param>
/// <param name="IsList">A `Sequence`/`List`/`LargeList` of <paramref name="Dtype"/>.</param>
/// <param name="LargeList">A `LargeList` (64-bit offsets).</param>
internal sealed record HfFeature(FeatureType Type, string Dtype, bool IsList, bool LargeList = false);

/// <summary>
/// Features in `datasets`' JSON (`Features.to_dict()`, as in dataset_info.json and the Arrow schema's `huggingface`
/// metadata): `{"text": {"dtype": "string", "_type": "Value"}, "label": {"names": [...], "_type": "ClassLabel"},
/// "input_ids": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"}}`. Reads what datasets 2 to 4
/// write (`Sequence` with `length: -1` and `id: null`, `List`, `LargeList`, a one-element JSON list for a list).
/// </summary>
internal static class HfFeatureJson
{
    // A ClassLabel given only as a number of classes gets that many names; the bound keeps a corrupt count from
    // sizing an allocation.
    private const int MaxUnnamedClasses = 1 << 20;

    /// <summary>The JSON datasets writes for <paramref name="features"/> (lists as `Sequence` of int32, as datasets 2 and 3 do).</summary>
    public static JsonObject ToJson(Features features)
    {
        var o = new JsonObject();
        foreach (var (name, type) in features)
        {
            o[name] = type switch
            {
                ClassLabel cl => new JsonObject { ["names"] = new JsonArray(cl.Names.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray()), ["_type"] = "ClassLabel" },
                Sequence => new JsonObject { ["feature"] = new JsonObject { ["dtype"] = "int32", ["_type"] = "Value" }, ["_type"] = "Sequence" },
                _ => new JsonObject { ["dtype"] = type.TypeName, ["_type"] = "Value" },
            };
        }
        return o;
    }

    /// <summary>Parses a `features` object; <paramref name="source"/> (a file) is named in every error.</summary>
    public static List<KeyValuePair<string, HfFeature>> Parse(JsonElement features, string source)
    {
        if (features.ValueKind != JsonValueKind.Object) throw FinetuneException.Invalid($"'{source}': 'features' is not a JSON object.");
        var r = new List<KeyValuePair<string, HfFeature>>();
        foreach (var p in features.EnumerateObject()) r.Add(new(p.Name, One(p.Value, p.Name, source)));
        return r;
    }

    private static HfFeature One(JsonElement e, string column, string source)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            // datasets' shorthand for a list: [feature].
            if (e.GetArrayLength() != 1) throw Bad(source, column, "a list feature must hold exactly one element type");
            return ListOf(e[0], column, source, large: false);
        }
        if (e.ValueKind != JsonValueKind.Object) throw Bad(source, column, $"the feature is a JSON {e.ValueKind}, not an object");
        string type = e.TryGetProperty("_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
        switch (type)
        {
            case "Value":
                {
                    string dtype = Dtype(e, column, source);
                    return new HfFeature(ParseValue(dtype, column, source), dtype, false);
                }
            case "ClassLabel":
                return new HfFeature(ClassLabelOf(e, column, source), "int64", false);
            case "Sequence" or "List" or "LargeList":
                {
                    if (e.TryGetProperty("length", out var len) && !(len.ValueKind == JsonValueKind.Number && len.TryGetInt32(out int n) && n == -1))
                        throw Unsupported(source, column, "a fixed-length sequence (length other than -1) is not supported");
                    if (!e.TryGetProperty("feature", out var inner)) throw Bad(source, column, $"the {type} has no 'feature'");
                    return ListOf(inner, column, source, type == "LargeList");
                }
            case "":
                throw Bad(source, column, "the feature has no '_type'");
            default:
                throw Unsupported(source, column, $"feature type '{type}' is not supported (Value, ClassLabel and lists of integers are)");
        }
    }

    private static HfFeature ListOf(JsonElement inner, string column, string source, bool large)
    {
        var element = One(inner, column, source);
        if (element.IsList || element.Type is ClassLabel || element.Type.Storage is not (DType.Int32 or DType.Int64) || element.Dtype is "uint32" or "uint64")
            throw Unsupported(source, column, $"a list of {element.Type} is not supported (lists of int8 to int64 are, held as int32)");
        return new HfFeature(Sequence.Int32, element.Dtype, true, large);
    }

    private static string Dtype(JsonElement e, string column, string source) =>
        e.TryGetProperty("dtype", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : throw Bad(source, column, "the Value has no 'dtype'");

    private static Value ParseValue(string dtype, string column, string source)
    {
        try
        {
            return Value.Parse(dtype);
        }
        catch (FinetuneException e)
        {
            throw new FinetuneException(ErrorKind.Unsupported, $"'{source}': column '{column}': {e.Message}", e);
        }
    }

    private static ClassLabel ClassLabelOf(JsonElement e, string column, string source)
    {
        if (e.TryGetProperty("names", out var names) && names.ValueKind == JsonValueKind.Array)
        {
            var list = new List<string>(names.GetArrayLength());
            foreach (var n in names.EnumerateArray())
                list.Add(n.ValueKind == JsonValueKind.String ? n.GetString()! : throw Bad(source, column, "a ClassLabel name is not a string"));
            try
            {
                return new ClassLabel(list);
            }
            catch (FinetuneException x)
            {
                throw Bad(source, column, x.Message);
            }
        }
        // datasets names the classes "0".."n-1" when only their number is given.
        if (e.TryGetProperty("num_classes", out var nc) && nc.TryGetInt32(out int count) && count >= 0 && count <= MaxUnnamedClasses)
            return new ClassLabel(Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        throw Bad(source, column, "the ClassLabel has neither 'names' nor a valid 'num_classes'");
    }

    private static FinetuneException Bad(string source, string column, string what) =>
        FinetuneException.Invalid($"'{source}': column '{column}': {what}.");

    private static FinetuneException Unsupported(string source, string column, string what) =>
        new(ErrorKind.Unsupported, $"'{source}': column '{column}': {what}.");
}
