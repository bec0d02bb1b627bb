using Finetune.Data;

namespace Finetune.Tests.Data;

/// <summary>Big shared datasets loaded once per test run (IMDB and SST-2 take a few seconds each).</summary>
internal static class SharedDatasets
{
    private static readonly Dictionary<string, Lazy<DatasetDict>> Cache = new();

    public static string Root => SharedData.Require("datasets");

    public static DatasetDict Get(string name)
    {
        string root = Root;
        Lazy<DatasetDict> lazy;
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out lazy!))
                Cache[name] = lazy = new Lazy<DatasetDict>(() => LoadDataset.Load(name, null, new LoadOptions { DataRoot = root }));
        }
        return lazy.Value;
    }

    public static Dictionary<string, int> LabelCounts(Dataset ds, string column = "label")
    {
        var cl = ds.Features[column] as ClassLabel;
        var counts = new Dictionary<string, int>();
        foreach (int id in ds.GetInts(column))
        {
            string key = id < 0 ? "-1" : cl != null ? cl.Int2Str(id) : id.ToString();
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }
}
