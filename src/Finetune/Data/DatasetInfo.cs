using System.Text;
using System.Text.Json.Nodes;

namespace Finetune.Data;

/// <summary>Descriptions of datasets for people and tools (`finetune dataset info`).</summary>
public static class DatasetInfo
{
    private static readonly string[] LabelColumns = ["label", "labels", "label_ids"];

    /// <summary>The column a dataset's labels live in, if any.</summary>
    public static string? LabelColumn(Dataset ds) => LabelColumns.FirstOrDefault(ds.Features.Contains);

    /// <summary>
    /// `{"splits": {"train": {"num_rows": 8530, "columns": {"text": "string", "label": {"class_label": ["neg", "pos"]}},
    /// "label_counts": {"neg": 4265, "pos": 4265}}}}`. label_counts lists every class name in id order, plus "-1" for
    /// unlabelled rows (GLUE test splits); it is absent when there is no integer label column.
    /// </summary>
    public static JsonObject ToJson(DatasetDict dict)
    {
        var splits = new JsonObject();
        foreach (var (name, ds) in dict)
        {
            var columns = new JsonObject();
            foreach (var (col, type) in ds.Features) columns[col] = FeatureJson(type);
            var split = new JsonObject { ["num_rows"] = ds.NumRows, ["columns"] = columns };
            var counts = LabelCounts(ds);
            if (counts != null)
            {
                var o = new JsonObject();
                foreach (var (k, v) in counts) o[k] = v;
                split["label_counts"] = o;
            }
            splits[name] = split;
        }
        return new JsonObject { ["splits"] = splits };
    }

    public static JsonNode FeatureJson(FeatureType type) => type switch
    {
        ClassLabel cl => new JsonObject { ["class_label"] = new JsonArray(cl.Names.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray()) },
        Sequence => new JsonObject { ["sequence"] = "int32" },
        _ => JsonValue.Create(type.TypeName)!,
    };

    /// <summary>Label name (or integer text) → rows, in class order; null when the dataset has no integer labels.</summary>
    public static List<KeyValuePair<string, int>>? LabelCounts(Dataset ds)
    {
        string? col = LabelColumn(ds);
        if (col == null || ds.Features[col].Storage is not (DType.Int32 or DType.Int64 or DType.Bool)) return null;
        var ids = ds.GetInts(col);
        if (ds.Features[col] is ClassLabel cl)
        {
            var counts = new int[cl.NumClasses];
            int unlabelled = 0;
            foreach (int id in ids)
            {
                if (id >= 0 && id < counts.Length) counts[id]++;
                else unlabelled++;
            }
            var r = cl.Names.Select((n, i) => new KeyValuePair<string, int>(n, counts[i])).ToList();
            if (unlabelled > 0) r.Add(new("-1", unlabelled));
            return r;
        }
        return ids.GroupBy(i => i).OrderBy(g => g.Key).Select(g => new KeyValuePair<string, int>(g.Key.ToString(), g.Count())).ToList();
    }

    /// <summary>What a notebook prints for a DatasetDict, plus features and label distributions.</summary>
    public static string ToText(DatasetDict dict)
    {
        var sb = new StringBuilder();
        sb.Append(dict).Append('\n');
        foreach (var (name, ds) in dict)
        {
            sb.Append('\n').Append(name).Append(": ").Append(ds.NumRows).Append(" rows\n");
            if (dict.DataFiles != null && dict.DataFiles.TryGetValue(name, out var files))
                sb.Append("  files: ").Append(string.Join(", ", files)).Append('\n');
            foreach (var (col, type) in ds.Features) sb.Append("  ").Append(col).Append(": ").Append(type).Append('\n');
            var counts = LabelCounts(ds);
            if (counts != null)
                sb.Append("  label counts: ").Append(string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value}"))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>One row as a JSON object; a ClassLabel value also gets its name in `&lt;column&gt;_name`.</summary>
    public static JsonObject RowJson(Dataset ds, int row)
    {
        var o = new JsonObject();
        foreach (var (col, type) in ds.Features)
        {
            object? v = ds.GetColumn(col).GetValue(row);
            o[col] = v switch
            {
                null => null,
                int[] a => new JsonArray(a.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()),
                string s => JsonValue.Create(s),
                int x => JsonValue.Create(x),
                long x => JsonValue.Create(x),
                float x => JsonValue.Create(x),
                double x => JsonValue.Create(x),
                bool x => JsonValue.Create(x),
                _ => JsonValue.Create(v.ToString()),
            };
            if (type is ClassLabel cl && v is long id && id >= 0 && id < cl.NumClasses) o[col + "_name"] = cl.Names[(int)id];
        }
        return o;
    }
}
