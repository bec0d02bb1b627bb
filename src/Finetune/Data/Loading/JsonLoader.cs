using System.Text;
using System.Text.Json;

namespace Finetune.Data.Loading;

/// <summary>Loads a JSON array of objects or JSON Lines (one object per line) into a <see cref="Dataset"/>.</summary>
internal static class JsonLoader
{
    public static Dataset Load(string path, LoadOptions o)
    {
        string text = TextSource.Decode(TextSource.ReadBytes(path), path, o.Encoding);
        var rows = new List<Dictionary<string, object?>>();
        var lines = new List<int>();
        var names = new ColumnNames();
        var bad = new List<string>();
        int firstChar = 0;
        while (firstChar < text.Length && char.IsWhiteSpace(text[firstChar])) firstChar++;
        if (firstChar < text.Length && text[firstChar] == '[') ReadArray(text, path, rows, lines, names);
        else ReadLines(text, path, rows, lines, names, o.SkipBadRows ? bad : null);
        if (bad.Count > 0) o.Warn($"skipped {bad.Count} bad row(s) in {path}; first: {bad[0]}");
        return Build(path, names, rows, lines, o.Features);
    }

    private static void ReadArray(string text, string path, List<Dictionary<string, object?>> rows, List<int> lines, ColumnNames names)
    {
        JsonDocument doc;
        try
        {
            doc = SafeJson.ParseDocument(text, path);
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"{path}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON ({FirstSentence(e.Message)}).", e);
        }
        using (doc)
        {
            int i = 0;
            foreach (var el in doc.RootElement.EnumerateArray())
            {
                i++;
                if (el.ValueKind != JsonValueKind.Object) throw FinetuneException.Invalid($"{path}: element {i} of the JSON array is {el.ValueKind}, not an object.");
                rows.Add(ReadObject(el, names, $"{path}: element {i}"));
                lines.Add(i);
            }
        }
    }

    private static void ReadLines(string text, string path, List<Dictionary<string, object?>> rows, List<int> lines, ColumnNames names, List<string>? bad)
    {
        int line = 0, pos = 0;
        while (pos < text.Length)
        {
            int end = text.IndexOf('\n', pos);
            if (end < 0) end = text.Length;
            line++;
            string s = text.AsSpan(pos, end - pos).Trim().ToString();
            pos = end + 1;
            if (s.Length == 0) continue;
            try
            {
                using var doc = SafeJson.ParseDocument(s, path, firstLine: line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw FinetuneException.Invalid($"{path}:{line}:1: expected a JSON object but found {doc.RootElement.ValueKind}.");
                rows.Add(ReadObject(doc.RootElement, names, $"{path}:{line}"));
                lines.Add(line);
            }
            catch (JsonException e)
            {
                string msg = $"{path}:{line}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON ({FirstSentence(e.Message)}).";
                if (bad == null) throw FinetuneException.Invalid(msg, e);
                bad.Add(msg);
            }
            catch (FinetuneException e) when (bad != null)
            {
                bad.Add(e.Message);
            }
        }
    }

    private static string FirstSentence(string m)
    {
        int i = m.IndexOf(". ", StringComparison.Ordinal);
        return (i > 0 ? m[..i] : m).TrimEnd('.');
    }

    private static Dictionary<string, object?> ReadObject(JsonElement el, ColumnNames names, string where)
    {
        var d = new Dictionary<string, object?>();
        foreach (var p in el.EnumerateObject())
        {
            if (!d.ContainsKey(p.Name) && d.Count == InputLimits.MaxColumns)
                throw FinetuneException.Invalid($"{where}: the object has more than {InputLimits.MaxColumns} keys (the column limit; set FINETUNE_MAX_COLUMNS to raise it).");
            names.Add(p.Name);
            d[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => FieldText(p.Value, p.Name, where),
                JsonValueKind.Number => p.Value.TryGetInt64(out long l) ? (object)l : p.Value.GetDouble(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Null => null,
                JsonValueKind.Array => ReadIntList(p.Value, p.Name, where),
                _ => throw new FinetuneException(ErrorKind.Unsupported, $"{where}: field '{p.Name}' is a nested object, which is not supported."),
            };
        }
        return d;
    }

    private static string FieldText(JsonElement value, string name, string where)
    {
        string s = value.GetString()!;
        if (s.Length > InputLimits.MaxFieldChars)
            throw FinetuneException.Invalid($"{where}: field '{name}' holds {s.Length} characters, more than the limit of {InputLimits.MaxFieldChars} (set FINETUNE_MAX_FIELD_CHARS to raise it).");
        return s;
    }

    /// <summary>Column names in first-seen order, with a set beside the list so a row with many keys stays linear.</summary>
    private sealed class ColumnNames : List<string>
    {
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

        public new void Add(string name)
        {
            if (_seen.Add(name)) base.Add(name);
        }
    }

    private static int[] ReadIntList(JsonElement arr, string name, string where)
    {
        var r = new int[arr.GetArrayLength()];
        int i = 0;
        foreach (var x in arr.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out r[i++]))
                throw new FinetuneException(ErrorKind.Unsupported, $"{where}: field '{name}' is a list holding {x.ValueKind} values; only lists of int32 are supported.");
        }
        return r;
    }

    private static Dataset Build(string path, ColumnNames names, List<Dictionary<string, object?>> rows, List<int> lines, Features? declared)
    {
        var features = new Features();
        var cols = new List<Column>();
        foreach (var name in names)
        {
            var values = new object?[rows.Count];
            for (int r = 0; r < values.Length; r++) values[r] = rows[r].TryGetValue(name, out var v) ? v : null;
            Column col = InferColumn(values, name, path, lines);
            if (declared != null && declared.TryGet(name, out var type))
            {
                string n = name;
                col = ColumnCast.To(col, type, name, r => $"{path}:{lines[r]}: field '{n}'");
                features.Add(name, type);
            }
            else features.Add(name, FeatureType.Of(col.DType));
            cols.Add(col);
        }
        return new Dataset(features, cols, FileFingerprint.Of(path)) { SourceFiles = new[] { Path.GetFullPath(path) } };
    }

    private static Column InferColumn(object?[] values, string name, string path, List<int> lines)
    {
        Type? kind = null;
        for (int r = 0; r < values.Length; r++)
        {
            var v = values[r];
            if (v == null) continue;
            Type t = v.GetType();
            if (kind == null) kind = t;
            else if (kind != t)
            {
                if ((kind == typeof(long) && t == typeof(double)) || (kind == typeof(double) && t == typeof(long))) kind = typeof(double);
                else throw FinetuneException.Invalid($"{path}:{lines[r]}: field '{name}' is {Describe(t)} here but {Describe(kind)} in earlier rows.");
            }
        }
        int n = values.Length;
        var nulls = new bool[n];
        for (int i = 0; i < n; i++) nulls[i] = values[i] == null;
        if (kind == typeof(long)) { var a = new long[n]; for (int i = 0; i < n; i++) if (!nulls[i]) a[i] = (long)values[i]!; return Column.Int64s(a, nulls); }
        if (kind == typeof(double)) { var a = new double[n]; for (int i = 0; i < n; i++) if (!nulls[i]) a[i] = Convert.ToDouble(values[i]); return Column.Float64s(a, nulls); }
        if (kind == typeof(bool)) { var a = new bool[n]; for (int i = 0; i < n; i++) if (!nulls[i]) a[i] = (bool)values[i]!; return Column.Bools(a, nulls); }
        if (kind == typeof(int[])) return Column.Int32Lists(values.Select(v => (int[]?)v).ToArray());
        return Column.Strings(values.Select(v => (string?)v).ToArray());
    }

    private static string Describe(Type t) =>
        t == typeof(string) ? "a string" : t == typeof(bool) ? "a boolean" : t == typeof(int[]) ? "a list" : "a number";

    /// <summary>Writes rows as JSON Lines (HF `to_json(lines=True)`); ClassLabel columns are written as ints.</summary>
    public static void Write(Dataset ds, Stream s)
    {
        using var w = new StreamWriter(s, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        var names = ds.ColumnNames;
        var cols = names.Select(ds.GetColumn).ToArray();
        var buffer = new MemoryStream();
        for (int r = 0; r < ds.NumRows; r++)
        {
            buffer.SetLength(0);
            using (var jw = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                jw.WriteStartObject();
                for (int c = 0; c < cols.Length; c++)
                {
                    jw.WritePropertyName(names[c]);
                    switch (cols[c].GetValue(r))
                    {
                        case null: jw.WriteNullValue(); break;
                        case string x: jw.WriteStringValue(x); break;
                        case int x: jw.WriteNumberValue(x); break;
                        case long x: jw.WriteNumberValue(x); break;
                        case float x: jw.WriteNumberValue(x); break;
                        case double x: jw.WriteNumberValue(x); break;
                        case bool x: jw.WriteBooleanValue(x); break;
                        case int[] x: jw.WriteStartArray(); foreach (int v in x) jw.WriteNumberValue(v); jw.WriteEndArray(); break;
                    }
                }
                jw.WriteEndObject();
            }
            w.Write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            w.Write('\n');
        }
    }
}
