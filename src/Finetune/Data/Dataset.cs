using System.Collections;
using System.Security.Cryptography;
using System.Text;

namespace Finetune.Data;

/// <summary>Options for <see cref="Dataset.Map"/>.</summary>
public sealed class MapOptions
{
    /// <summary>Rows per call of a batched function (HF default 1000).</summary>
    public int BatchSize { get; init; } = 1000;

    /// <summary>Columns dropped from the result (HF `remove_columns`).</summary>
    public IReadOnlyList<string>? RemoveColumns { get; init; }

    /// <summary>Parallel workers; null uses every core. The result never depends on it.</summary>
    public int? NumProc { get; init; }

    /// <summary>Called with (rows done, total rows) as batches finish; the CLI draws its progress bar from it.</summary>
    public IProgress<(int Done, int Total)>? Progress { get; init; }

    /// <summary>
    /// What the function does, as a stable string (e.g. tokenizer fingerprint + arguments). With it the result's
    /// fingerprint is reproducible and the tokenized cache can key on it; without it the fingerprint is random, as
    /// in HF for functions it cannot hash.
    /// </summary>
    public string? Fingerprint { get; init; }
}

/// <summary>
/// A table of named, typed columns with <see cref="Features"/>: the C# counterpart of a Hugging Face
/// `datasets.Dataset`. Immutable: every operation returns a new dataset (columns are shared where unchanged).
/// </summary>
public sealed partial class Dataset
{
    private readonly Column[] _columns;

    public Dataset(Features features, IReadOnlyList<Column> columns, string? fingerprint = null)
    {
        if (features.Count != columns.Count) throw new ArgumentException("features and columns differ in count");
        int n = columns.Count > 0 ? columns[0].Length : 0;
        int i = 0;
        foreach (var kv in features)
        {
            if (columns[i].Length != n) throw FinetuneException.Invalid($"Column '{kv.Key}' has {columns[i].Length} rows but the others have {n}.");
            if (columns[i].DType != kv.Value.Storage) throw new ArgumentException($"column '{kv.Key}' is stored as {columns[i].DType} but its feature is {kv.Value}");
            i++;
        }
        Features = features;
        _columns = columns.ToArray();
        NumRows = n;
        Fingerprint = fingerprint ?? Guid.NewGuid().ToString("N");
    }

    public Features Features { get; }

    public int NumRows { get; }

    public int Count => NumRows;

    public IReadOnlyList<string> ColumnNames => Features.Names.ToArray();

    /// <summary>Identifies the content: derived from source files and the operations applied (HF `_fingerprint`).</summary>
    public string Fingerprint { get; }

    /// <summary>Files this dataset was loaded from (for cache fingerprints).</summary>
    public IReadOnlyList<string> SourceFiles { get; init; } = Array.Empty<string>();

    public Column GetColumn(string name)
    {
        int i = Features.IndexOf(name);
        if (i < 0) throw FinetuneException.Missing($"Column '{name}' does not exist; the columns are: {string.Join(", ", Features.Names)}.");
        return _columns[i];
    }

    public Column this[string name] => GetColumn(name);

    /// <summary>One row as column name → value (HF `ds[i]`).</summary>
    public IReadOnlyDictionary<string, object?> this[int row] => Row(row);

    public IReadOnlyDictionary<string, object?> Row(int row)
    {
        if ((uint)row >= (uint)NumRows) throw new IndexOutOfRangeException($"Row {row} is out of range for {NumRows} rows.");
        var d = new Dictionary<string, object?>(_columns.Length);
        int i = 0;
        foreach (var name in Features.Names) d[name] = _columns[i++].GetValue(row);
        return d;
    }

    public IEnumerable<IReadOnlyDictionary<string, object?>> Rows()
    {
        for (int i = 0; i < NumRows; i++) yield return Row(i);
    }

    public string?[] GetStrings(string name) => GetColumn(name) is Column<string?> c ? c.Values
        : throw FinetuneException.Invalid($"Column '{name}' holds {GetColumn(name).DType} values, not strings.");

    /// <summary>An integer (or bool) column as int32; nulls become -1.</summary>
    public int[] GetInts(string name)
    {
        var col = GetColumn(name);
        var r = new int[col.Length];
        switch (col)
        {
            case Column<int> c: c.Values.CopyTo(r, 0); break;
            case Column<long> c: for (int i = 0; i < r.Length; i++) r[i] = checked((int)c.Values[i]); break;
            case Column<bool> c: for (int i = 0; i < r.Length; i++) r[i] = c.Values[i] ? 1 : 0; break;
            default: throw FinetuneException.Invalid($"Column '{name}' holds {col.DType} values, not integers.");
        }
        if (col.HasNulls) for (int i = 0; i < r.Length; i++) if (col.IsNull(i)) r[i] = -1;
        return r;
    }

    /// <summary>A numeric column as float32 (regression labels); nulls become NaN.</summary>
    public float[] GetFloats(string name)
    {
        var col = GetColumn(name);
        var r = new float[col.Length];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = col.IsNull(i) ? float.NaN : col switch
            {
                Column<float> c => c.Values[i],
                Column<double> c => (float)c.Values[i],
                Column<int> c => c.Values[i],
                Column<long> c => c.Values[i],
                _ => throw FinetuneException.Invalid($"Column '{name}' holds {col.DType} values, not numbers."),
            };
        }
        return r;
    }

    public int[]?[] GetIntLists(string name) => GetColumn(name) is Column<int[]?> c ? c.Values
        : throw FinetuneException.Invalid($"Column '{name}' holds {GetColumn(name).DType} values, not lists of int.");

    /// <summary>Builds a dataset from column arrays (HF `Dataset.from_dict`); types are inferred unless given.</summary>
    public static Dataset FromDict(IEnumerable<KeyValuePair<string, IList>> columns, Features? features = null)
    {
        var f = new Features();
        var cols = new List<Column>();
        foreach (var kv in columns)
        {
            var col = Column.FromList(kv.Key, kv.Value);
            FeatureType type = features != null && features.TryGet(kv.Key, out var given) ? given : FeatureType.Of(col.DType);
            col = ColumnCast.To(col, type, kv.Key);
            f.Add(kv.Key, type);
            cols.Add(col);
        }
        return new Dataset(f, cols, Hash("from_dict", Guid.NewGuid().ToString()));
    }

    internal IReadOnlyList<Column> Columns => _columns;

    internal Dataset With(Features features, IReadOnlyList<Column> columns, string operation) =>
        new(features, columns, Hash(Fingerprint, operation)) { SourceFiles = SourceFiles };

    internal static string Hash(params string[] parts)
    {
        var sb = new StringBuilder();
        foreach (var p in parts) sb.Append(p.Length).Append(':').Append(p).Append('|');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }

    public override string ToString() =>
        $"Dataset({{\n    features: [{string.Join(", ", Features.Names.Select(n => "'" + n + "'"))}],\n    num_rows: {NumRows}\n}})";
}
