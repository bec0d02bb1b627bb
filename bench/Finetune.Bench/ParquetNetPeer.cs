using System.Collections;
using System.Reflection;
using Parquet.Data;
using Parquet;
using Parquet.Schema;

namespace Finetune.Bench;

/// <summary>
/// Parquet.Net 6.1 (the peer the project's own Parquet reader is measured against), used the way its API intends:
/// every leaf column of every row group decoded. Shared by the `data` bench and the corpus comparison test.
/// </summary>
public static class ParquetNetPeer
{
    /// <summary>
    /// Decodes every leaf column of <paramref name="path"/> and returns the top-level, non-repeated ones as boxed
    /// values per row (null where missing), in schema order; nested columns are decoded and dropped.
    /// </summary>
    public static List<KeyValuePair<string, List<object?>>> ReadAll(string path) => ReadAllAsync(path).GetAwaiter().GetResult();

    private static async Task<List<KeyValuePair<string, List<object?>>>> ReadAllAsync(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        var fields = reader.Schema.GetDataFields();
        var flat = new Dictionary<DataField, List<object?>>();
        foreach (var f in fields)
        {
            if (f.MaxRepetitionLevel == 0 && f.Path.ToList().Count == 1) flat[f] = new List<object?>();
        }
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            foreach (var f in fields)
            {
                using var raw = await rg.ReadRawColumnDataBaseAsync(f, default);
                if (!flat.TryGetValue(f, out var list)) continue;
                var t = raw.GetType().GetGenericArguments()[0];
                CollectMethod.MakeGenericMethod(t).Invoke(null, [raw, f, list]);
            }
        }
        return fields.Where(flat.ContainsKey).Select(f => new KeyValuePair<string, List<object?>>(f.Name, flat[f])).ToList();
    }

    private static readonly MethodInfo CollectMethod = typeof(ParquetNetPeer).GetMethod(nameof(Collect), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>Spreads the decoded (non-null) values over the rows their definition levels mark as present.</summary>
    private static void Collect<T>(RawColumnData<T> raw, DataField f, List<object?> into) where T : struct
    {
        var values = raw.Values;
        if (f.MaxDefinitionLevel == 0)
        {
            foreach (var v in values) into.Add(Box(v));
            return;
        }
        var defs = raw.DefinitionLevels;
        int k = 0;
        for (int i = 0; i < defs.Length; i++) into.Add(defs[i] == f.MaxDefinitionLevel ? Box(values[k++]) : null);
    }

    private static object? Box<T>(T v) => v is ReadOnlyMemory<char> m ? m.ToString() : v;

    /// <summary>
    /// The typed fast path for a flat table of strings and integers (what a text-classification set holds): each
    /// column read into one array per row group, as Parquet.Net's documentation shows.
    /// </summary>
    public static IList[] ReadTyped(string path) => ReadTypedAsync(path).GetAwaiter().GetResult();

    private static async Task<IList[]> ReadTypedAsync(string path)
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        var fields = reader.Schema.GetDataFields();
        var columns = new IList[fields.Length];
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            int rows = checked((int)rg.RowCount);
            for (int c = 0; c < fields.Length; c++)
            {
                var f = fields[c];
                if (f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>))
                {
                    var s = new string?[rows];
                    await rg.ReadAsync(f, s.AsMemory(), null, default);
                    columns[c] = Append(columns[c], s);
                }
                else if (f.ClrType == typeof(long))
                {
                    var v = new long?[rows];
                    await rg.ReadAsync<long>(f, v.AsMemory(), null, default);
                    columns[c] = Append(columns[c], v);
                }
                else if (f.ClrType == typeof(int))
                {
                    var v = new int?[rows];
                    await rg.ReadAsync<int>(f, v.AsMemory(), null, default);
                    columns[c] = Append(columns[c], v);
                }
                else
                {
                    throw new NotSupportedException($"{path}: column {f.Name} is {f.ClrType.Name}; the typed path reads strings and integers");
                }
            }
        }
        return columns;
    }

    /// <summary>A text + label table written by Parquet.Net with its default options, one row group.</summary>
    public static void WriteTextLabel(string path, string?[] text, int[] label) => WriteTextLabelAsync(path, text, label).GetAwaiter().GetResult();

    private static async Task WriteTextLabelAsync(string path, string?[] text, int[] label)
    {
        var textField = new DataField<string>("text", true);
        var labelField = new DataField<long>("label", false);
        await using var fs = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(textField, labelField), fs);
        using var rg = writer.CreateRowGroup();
        await rg.WriteAsync(textField, text, null);
        await rg.WriteAsync<long>(labelField, label.Select(l => (long)l).ToArray().AsMemory(), null, null, default);
    }

    private static IList Append<T>(IList? soFar, T[] next) => soFar == null ? next : ((T[])soFar).Concat(next).ToArray();
}
