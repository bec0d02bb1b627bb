using System.Collections;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Finetune.Data;

/// <summary>
/// Caches the columns a tokenize function adds to a dataset, on disk, so the second run of the same job skips
/// tokenization. The key is a hash of the dataset's fingerprint (the content of its source files plus every
/// operation applied to it), a caller-given tokenizer fingerprint (e.g. a hash of the tokenizer files) and the
/// tokenization arguments; any change gives a new key (a miss). An entry is one file: a JSON header, then each
/// column as flat little-endian arrays (int lists and strings as flat values + int64 offsets), read back through
/// a memory map. Entries are written atomically, so an interrupted run never leaves a half entry.
/// </summary>
public sealed class TokenizedCache
{
    private const string Magic = "FTCACHE1";

    public TokenizedCache(string? directory = null)
    {
        Directory = directory ?? Environment.GetEnvironmentVariable("FINETUNE_CACHE")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "finetune", "datasets");
    }

    public string Directory { get; }

    /// <summary>Whether the last <see cref="Map"/> call was served from disk.</summary>
    public bool LastWasHit { get; private set; }

    /// <summary>The cache key for mapping <paramref name="fn"/> described by the fingerprints over <paramref name="ds"/>.</summary>
    public static string Key(Dataset ds, string tokenizerFingerprint, string arguments, MapOptions? options = null) =>
        Dataset.Hash("tokenized-cache-v1", ds.Fingerprint, tokenizerFingerprint, arguments,
            string.Join(",", options?.RemoveColumns ?? Array.Empty<string>()), (options?.BatchSize ?? 1000).ToString());

    public string PathFor(string key) => Path.Combine(Directory, key + ".ftcache");

    /// <summary>`ds.Map(fn)` through the cache: loads the result when present, else maps and stores it.</summary>
    public Dataset Map(Dataset ds, Func<Dataset, IReadOnlyDictionary<string, IList>> fn, string tokenizerFingerprint, string arguments, MapOptions? options = null)
    {
        string key = Key(ds, tokenizerFingerprint, arguments, options);
        string path = PathFor(key);
        var remove = options?.RemoveColumns ?? Array.Empty<string>();
        if (File.Exists(path))
        {
            try
            {
                var cached = Read(path);
                LastWasHit = true;
                return Combine(ds, cached, remove, key);
            }
            catch (FinetuneException)
            {
                // A damaged entry is rebuilt below.
            }
        }
        LastWasHit = false;
        var mapped = ds.Map(fn, new MapOptions
        {
            BatchSize = options?.BatchSize ?? 1000,
            RemoveColumns = options?.RemoveColumns,
            NumProc = options?.NumProc,
            Progress = options?.Progress,
            Fingerprint = tokenizerFingerprint + "|" + arguments,
        });
        var newNames = mapped.ColumnNames.Where(n => !ds.Features.Contains(n) || !ReferenceEquals(ds.GetColumn(n), mapped.GetColumn(n))).ToList();
        Write(path, newNames.Select(n => (n, mapped.Features[n], mapped.GetColumn(n))).ToList(), mapped.NumRows);
        return Combine(ds, Read(path), remove, key);
    }

    private static Dataset Combine(Dataset ds, List<(string Name, FeatureType Type, Column Column)> added, IReadOnlyList<string> remove, string key)
    {
        var f = new Features();
        var cols = new List<Column>();
        foreach (var name in ds.ColumnNames)
        {
            if (remove.Contains(name) || added.Any(a => a.Name == name)) continue;
            f.Add(name, ds.Features[name]);
            cols.Add(ds.GetColumn(name));
        }
        foreach (var (name, type, col) in added)
        {
            if (col.Length != ds.NumRows) throw FinetuneException.Invalid($"Cache entry {key} holds {col.Length} rows but the dataset has {ds.NumRows}.");
            f.Add(name, type);
            cols.Add(col);
        }
        return new Dataset(f, cols, Dataset.Hash(ds.Fingerprint, "cached-map", key)) { SourceFiles = ds.SourceFiles };
    }

    private sealed record Entry(string Name, string Dtype, string[]? ClassNames, long Data, long DataBytes, long Offsets, long Nulls);

    private static void Write(string path, List<(string Name, FeatureType Type, Column Column)> columns, int rows)
    {
        var sections = new List<byte[]>();
        var entries = new List<Entry>();
        long at = 0;
        long Add(byte[] bytes)
        {
            long start = at;
            sections.Add(bytes);
            at += bytes.Length;
            int pad = (int)((64 - at % 64) % 64);
            if (pad > 0) { sections.Add(new byte[pad]); at += pad; }
            return start;
        }
        foreach (var (name, type, col) in columns)
        {
            byte[] data;
            long offsets = -1, nulls = -1;
            switch (col)
            {
                case Column<int[]?> c:
                    {
                        var off = new long[rows + 1];
                        for (int i = 0; i < rows; i++) off[i + 1] = off[i] + (c.Values[i]?.Length ?? 0);
                        var flat = new int[off[rows]];
                        for (int i = 0; i < rows; i++) c.Values[i]?.CopyTo(flat, off[i]);
                        data = MemoryMarshal.AsBytes(flat.AsSpan()).ToArray();
                        offsets = Add(MemoryMarshal.AsBytes(off.AsSpan()).ToArray());
                        break;
                    }
                case Column<string?> c:
                    {
                        var off = new long[rows + 1];
                        var ms = new MemoryStream();
                        for (int i = 0; i < rows; i++)
                        {
                            var b = Encoding.UTF8.GetBytes(c.Values[i] ?? "");
                            ms.Write(b);
                            off[i + 1] = ms.Length;
                        }
                        data = ms.ToArray();
                        offsets = Add(MemoryMarshal.AsBytes(off.AsSpan()).ToArray());
                        break;
                    }
                case Column<int> c: data = MemoryMarshal.AsBytes(c.Values.AsSpan()).ToArray(); break;
                case Column<long> c: data = MemoryMarshal.AsBytes(c.Values.AsSpan()).ToArray(); break;
                case Column<float> c: data = MemoryMarshal.AsBytes(c.Values.AsSpan()).ToArray(); break;
                case Column<double> c: data = MemoryMarshal.AsBytes(c.Values.AsSpan()).ToArray(); break;
                case Column<bool> c: data = c.Values.Select(v => v ? (byte)1 : (byte)0).ToArray(); break;
                default: throw new FinetuneException(ErrorKind.Unsupported, $"Column '{name}' of type {col.DType} cannot be cached.");
            }
            if (col.HasNulls) nulls = Add(Enumerable.Range(0, rows).Select(i => col.IsNull(i) ? (byte)1 : (byte)0).ToArray());
            long dataAt = Add(data);
            entries.Add(new Entry(name, col.DType.ToString(), type is ClassLabel cl ? cl.Names.ToArray() : null, dataAt, data.Length, offsets, nulls));
        }
        byte[] header = JsonSerializer.SerializeToUtf8Bytes(new { rows, columns = entries });
        AtomicFile.Write(path, s =>
        {
            s.Write(Encoding.ASCII.GetBytes(Magic));
            s.Write(BitConverter.GetBytes((long)header.Length));
            s.Write(header);
            int pad = (int)((64 - (16 + header.Length) % 64) % 64);
            s.Write(new byte[pad]);
            foreach (var sec in sections) s.Write(sec);
        });
    }

    private static List<(string, FeatureType, Column)> Read(string path)
    {
        try
        {
            long fileLength = new FileInfo(path).Length;
            using var mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            using var view = mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            var magic = new byte[8];
            view.ReadArray(0, magic, 0, 8);
            if (Encoding.ASCII.GetString(magic) != Magic) throw FinetuneException.Invalid($"'{path}' is not a tokenized cache entry.");
            long headerLen = view.ReadInt64(8);
            if (headerLen <= 0 || 16 + headerLen > fileLength) throw FinetuneException.Invalid($"'{path}' has a damaged header.");
            var header = new byte[headerLen];
            view.ReadArray(16, header, 0, header.Length);
            long baseAt = 16 + headerLen + (64 - (16 + headerLen) % 64) % 64;
            using var doc = JsonDocument.Parse(header);
            int rows = doc.RootElement.GetProperty("rows").GetInt32();
            var result = new List<(string, FeatureType, Column)>();
            foreach (var e in doc.RootElement.GetProperty("columns").EnumerateArray())
            {
                string name = e.GetProperty("Name").GetString()!;
                var dtype = Enum.Parse<DType>(e.GetProperty("Dtype").GetString()!);
                long data = baseAt + e.GetProperty("Data").GetInt64(), bytes = e.GetProperty("DataBytes").GetInt64();
                long offsets = e.GetProperty("Offsets").GetInt64(), nullsAt = e.GetProperty("Nulls").GetInt64();
                if (data + bytes > fileLength) throw FinetuneException.Invalid($"'{path}' is truncated (column '{name}').");
                T[] Arr<T>(long at, long count) where T : struct
                {
                    var a = new T[count];
                    view.ReadArray(at, a, 0, (int)count);
                    return a;
                }
                bool[]? nulls = nullsAt >= 0 ? Arr<byte>(baseAt + nullsAt, rows).Select(b => b != 0).ToArray() : null;
                long[]? off = offsets >= 0 ? Arr<long>(baseAt + offsets, rows + 1) : null;
                Column col = dtype switch
                {
                    DType.Int32List => ReadLists(Arr<int>(data, bytes / 4), off!, nulls),
                    DType.String => ReadStrings(Arr<byte>(data, bytes), off!, nulls),
                    DType.Int32 => Column.Int32s(Arr<int>(data, rows), nulls),
                    DType.Int64 => Column.Int64s(Arr<long>(data, rows), nulls),
                    DType.Float32 => Column.Float32s(Arr<float>(data, rows), nulls),
                    DType.Float64 => Column.Float64s(Arr<double>(data, rows), nulls),
                    _ => Column.Bools(Arr<byte>(data, rows).Select(b => b != 0).ToArray(), nulls),
                };
                FeatureType type = e.TryGetProperty("ClassNames", out var cn) && cn.ValueKind == JsonValueKind.Array
                    ? new ClassLabel(cn.EnumerateArray().Select(x => x.GetString()!)) : FeatureType.Of(dtype);
                result.Add((name, type, col));
            }
            return result;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or ArgumentException or InvalidOperationException)
        {
            throw FinetuneException.Invalid($"Cache entry '{path}' could not be read: {e.Message}", e);
        }
    }

    private static Column ReadLists(int[] flat, long[] off, bool[]? nulls)
    {
        var v = new int[]?[off.Length - 1];
        for (int i = 0; i < v.Length; i++) v[i] = nulls != null && nulls[i] ? null : flat[(int)off[i]..(int)off[i + 1]];
        return Column.Int32Lists(v);
    }

    private static Column ReadStrings(byte[] bytes, long[] off, bool[]? nulls)
    {
        var v = new string?[off.Length - 1];
        for (int i = 0; i < v.Length; i++) v[i] = nulls != null && nulls[i] ? null : Encoding.UTF8.GetString(bytes, (int)off[i], (int)(off[i + 1] - off[i]));
        return Column.Strings(v);
    }
}
