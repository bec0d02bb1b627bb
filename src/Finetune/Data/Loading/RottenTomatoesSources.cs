using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace Finetune.Data.Loading;

/// <summary>
/// Where rotten_tomatoes comes from when the data root lacks it: the Hugging Face Hub
/// (cornell-movie-review-data/rotten_tomatoes), else the copy embedded in this library (HF's exact splits, see
/// Data/Embedded/rotten_tomatoes/README.md), so that the seed recipe runs on a fresh clone with no network.
/// </summary>
internal static class RottenTomatoesSources
{
    /// <summary>The dataset's repository on the Hub (the short name "rotten_tomatoes" redirects there).</summary>
    public const string HubRepoId = "cornell-movie-review-data/rotten_tomatoes";

    public static readonly string[] Splits = ["train", "validation", "test"];

    public static Features Features() => new() { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } };

    /// <summary>The Hub's files when it can serve them, else the embedded copy; <paramref name="o"/>.Warning hears which.</summary>
    public static DatasetDict HubOrEmbedded(LoadOptions o)
    {
        try
        {
            var hub = Hub.Hub.ResolveDataset(HubRepoId);
            var d = new DatasetDict();
            foreach (string split in Splits)
            {
                if (!hub.LocalSplits.TryGetValue(split, out var files) || files.Count == 0) return Embedded(o, $"the Hub's copy has no '{split}' split");
                var parts = files.Select(f => Cast(LoadDataset.LoadFile(f, new LoadOptions { Warning = o.Warning, SkipBadRows = o.SkipBadRows }), f)).ToArray();
                d[split] = parts.Length == 1 ? parts[0] : Dataset.Concatenate(parts);
            }
            return d;
        }
        catch (Hub.HubException e)
        {
            return Embedded(o, e.Message);
        }
    }

    // The Hub's Parquet files carry the label as a plain integer unless the loader reads HF's schema metadata.
    private static Dataset Cast(Dataset ds, string file)
    {
        if (!ds.ColumnNames.Contains("text") || !ds.ColumnNames.Contains("label"))
            throw FinetuneException.Invalid($"'{file}' should hold the columns text and label of rotten_tomatoes; it has {string.Join(", ", ds.ColumnNames)}.");
        return ds.Features["label"] is ClassLabel ? ds : ds.CastColumn("label", new ClassLabel(["neg", "pos"]));
    }

    private static DatasetDict Embedded(LoadOptions o, string why)
    {
        o.Warning?.Invoke($"rotten_tomatoes: using the copy embedded in the Finetune library (neither the data root nor the Hub served it: {why})");
        return Embedded();
    }

    /// <summary>The embedded copy: 8530 / 1066 / 1066 rows of text and label (0 = neg, 1 = pos).</summary>
    public static DatasetDict Embedded()
    {
        var d = new DatasetDict();
        foreach (string split in Splits) d[split] = ReadSplit(split);
        return d;
    }

    private static Dataset ReadSplit(string split)
    {
        string name = $"Finetune.Data.rotten_tomatoes.{split}.jsonl.gz";
        using var resource = typeof(RottenTomatoesSources).Assembly.GetManifestResourceStream(name)
            ?? throw new FinetuneException(ErrorKind.NotFound, $"The library was built without its embedded resource '{name}'.");
        var compressed = new MemoryStream();
        resource.CopyTo(compressed);
        compressed.Position = 0;
        var texts = new List<string?>();
        var labels = new List<long>();
        using (var reader = new StreamReader(new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: true)))
        {
            int line = 0;
            for (string? l = reader.ReadLine(); l != null; l = reader.ReadLine())
            {
                line++;
                if (l.Length == 0) continue;
                using var doc = JsonDocument.Parse(l);
                texts.Add(doc.RootElement.GetProperty("text").GetString());
                labels.Add(doc.RootElement.GetProperty("label").GetInt64());
            }
        }
        string fingerprint = Dataset.Hash("rotten_tomatoes", "embedded", Convert.ToHexStringLower(SHA256.HashData(compressed.ToArray())), split);
        return new Dataset(Features(), new Column[] { Column.Strings(texts.ToArray()), Column.Int64s(labels.ToArray()) }, fingerprint);
    }
}
