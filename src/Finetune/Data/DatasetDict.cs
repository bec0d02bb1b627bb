using System.Collections;

namespace Finetune.Data;

/// <summary>Named splits ("train", "validation", "test", ...) in insertion order, like HF `DatasetDict`.</summary>
public sealed class DatasetDict : IEnumerable<KeyValuePair<string, Dataset>>
{
    private readonly List<KeyValuePair<string, Dataset>> _splits = new();

    public Dataset this[string split]
    {
        get
        {
            foreach (var kv in _splits) if (kv.Key == split) return kv.Value;
            throw FinetuneException.Missing($"Split '{split}' does not exist; the splits are: {string.Join(", ", Keys)}.");
        }
        set
        {
            int i = _splits.FindIndex(kv => kv.Key == split);
            if (i >= 0) _splits[i] = new(split, value);
            else _splits.Add(new(split, value));
        }
    }

    /// <summary>The files each split was read from, when it was loaded from data files (null otherwise).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? DataFiles { get; set; }

    public IReadOnlyList<string> Keys => _splits.Select(kv => kv.Key).ToArray();

    public int Count => _splits.Count;

    public bool ContainsKey(string split) => _splits.Any(kv => kv.Key == split);

    /// <summary>Applies <paramref name="f"/> to every split (HF's DatasetDict methods map over splits).</summary>
    public DatasetDict Apply(Func<Dataset, Dataset> f)
    {
        var d = new DatasetDict();
        foreach (var kv in _splits) d[kv.Key] = f(kv.Value);
        return d;
    }

    public DatasetDict Map(Func<Dataset, IReadOnlyDictionary<string, IList>> fn, MapOptions? options = null) => Apply(ds => ds.Map(fn, options));

    public DatasetDict Shuffle(ulong seed) => Apply(ds => ds.Shuffle(seed));

    public DatasetDict RemoveColumns(params string[] names) => Apply(ds => ds.RemoveColumns(names));

    public DatasetDict RenameColumn(string from, string to) => Apply(ds => ds.RenameColumn(from, to));

    public DatasetDict ClassEncodeColumn(string name) => Apply(ds => ds.ClassEncodeColumn(name));

    /// <summary>HF `DatasetDict.save_to_disk`: dataset_dict.json and a save_to_disk folder per split.</summary>
    public void SaveToDisk(string path) => Loading.SavedToDisk.Save(this, path);

    public IEnumerator<KeyValuePair<string, Dataset>> GetEnumerator() => _splits.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() =>
        "DatasetDict({\n" + string.Join("\n", _splits.Select(kv => $"    {kv.Key}: Dataset({{\n        features: [{string.Join(", ", kv.Value.Features.Names.Select(n => "'" + n + "'"))}],\n        num_rows: {kv.Value.NumRows}\n    }})")) + "\n})";
}
