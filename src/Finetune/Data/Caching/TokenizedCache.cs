using System.Collections;
using Finetune.Data.Arrow;

namespace Finetune.Data;

/// <summary>
/// Caches the columns a tokenize function adds to a dataset, on disk, so the second run of the same job skips
/// tokenization. The key is a hash of the dataset's fingerprint (the content of its source files plus every
/// operation applied to it), a caller-given tokenizer fingerprint (e.g. a hash of the tokenizer files) and the
/// tokenization arguments; any change gives a new key (a miss). An entry is one Arrow IPC stream file,
/// `cache-{key}.arrow`, the format and naming `datasets` uses for its own cache files (the features, ClassLabel names
/// included, in the schema's `huggingface` metadata), so pyarrow or datasets can open it. Entries are written
/// atomically, so an interrupted run never leaves a half entry.
/// </summary>
public sealed class TokenizedCache
{
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

    public string PathFor(string key) => Path.Combine(Directory, "cache-" + key + ".arrow");

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
        Write(path, newNames.Select(n => (n, mapped.Features[n], mapped.GetColumn(n))).ToList());
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

    private static void Write(string path, List<(string Name, FeatureType Type, Column Column)> columns)
    {
        var features = new Features();
        foreach (var (name, type, _) in columns) features.Add(name, type);
        ArrowIpc.Write(path, new Dataset(features, columns.Select(c => c.Column).ToArray()));
    }

    private static List<(string, FeatureType, Column)> Read(string path)
    {
        var ds = ArrowIpc.Read(path, null, null, "");
        var result = new List<(string, FeatureType, Column)>(ds.Features.Count);
        foreach (var (name, type) in ds.Features) result.Add((name, type, ds.GetColumn(name)));
        return result;
    }
}
