using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Finetune.Data;
using Finetune.Data.Loading;

namespace Finetune.Bench;

/// <summary>
/// `data`: the dataset layer on IMDB train (25,000 reviews, 33 MB of CSV): RFC 4180 parsing against CsvHelper (the
/// peer, same decompressed text, same process), the whole load (gunzip + UTF-8 check + parse + typing), Parquet
/// write and read (reading against Parquet.Net 6.1 on our file, on a file Parquet.Net wrote and on a Hub file
/// pyarrow wrote), and padding batches. Options: --shared DIR (default ../shared), --repeat N (default 3, best of N).
/// </summary>
public sealed class DataSuite : IBenchSuite
{
    public string Name => "data";

    public string Description => "CSV parsing vs CsvHelper, IMDB load, Parquet write/read vs Parquet.Net, collation (IMDB train)";

    public int Run(string[] args, BenchResults results)
    {
        string shared = BenchArgs.Get(args, "--shared") ?? BenchArgs.FindShared();
        int repeat = int.Parse(BenchArgs.Get(args, "--repeat") ?? "3", CultureInfo.InvariantCulture);
        string path = Path.Combine(shared, "datasets/imdb/imdb_train.csv.gz");
        string text = TextSource.Decode(TextSource.ReadBytes(path), path, null);
        double mb = text.Length * 2 / 1e6 / 2; // UTF-16 chars -> approx. MB of UTF-8 text
        Console.WriteLine($"IMDB train: {text.Length:N0} chars, {Environment.ProcessorCount} cores, best of {repeat}");

        double ours = Best(repeat, () => { foreach (var _ in new CsvParser(text, path, ',', true, null).Records()) { } });
        double peer = Best(repeat, () =>
        {
            using var csv = CsvHelper.CsvReader.FromText(text, new CsvHelper.CsvReaderOptions());
            while (csv.Read())
            {
                for (int i = 0; i < csv.FieldCount; i++) csv.GetString(i);
            }
        });
        Report(results, "csv_parse", ours, peer, "CsvHelper 34", $"{mb / ours,8:F1} MB/s vs CsvHelper {mb / peer,8:F1} MB/s");

        double load = Best(repeat, () => LoadDataset.LoadFile(path));
        Report(results, "imdb_load_gz", load, null, null, $"{25000 / load,10:N0} rows/s");

        var ds = LoadDataset.LoadFile(path);
        using var tmp = new TempFolder();
        string pq = Path.Combine(tmp.Path, "imdb.parquet");
        double write = Best(repeat, () => ds.ToParquet(pq));
        double read = Best(repeat, () => Dataset.FromFile(pq));
        Report(results, "parquet_write", write, null, null, $"{new FileInfo(pq).Length / 1e6,6:F1} MB file");
        // Parquet.Net on the same file, decoding both columns into arrays (its typed fast path); then a file written
        // by Parquet.Net itself (its defaults: dictionary encoding, Snappy), so neither reader only sees its own writer.
        double peerRead = Best(repeat, () => ParquetNetPeer.ReadTyped(pq));
        Report(results, "parquet_read", read, peerRead, "Parquet.Net 6.1", $"{25000 / read,10:N0} rows/s");
        string peerPq = Path.Combine(tmp.Path, "imdb.parquetnet.parquet");
        ParquetNetPeer.WriteTextLabel(peerPq, ds.GetStrings("text"), ds.GetInts("label"));
        double readPeerFile = Best(repeat, () => Dataset.FromFile(peerPq));
        double peerReadPeerFile = Best(repeat, () => ParquetNetPeer.ReadTyped(peerPq));
        Report(results, "parquet_read_peerfile", readPeerFile, peerReadPeerFile, "Parquet.Net 6.1", $"{new FileInfo(peerPq).Length / 1e6,6:F1} MB file written by Parquet.Net");
        string hub = Path.Combine(shared, "datasets/angry_tweets_da/train-00000-of-00001.parquet");
        if (File.Exists(hub))
        {
            // A file pyarrow wrote for the Hub; small, so repeated to be measurable.
            double oursHub = Best(repeat, () => { for (int i = 0; i < 20; i++) Dataset.FromFile(hub); });
            double peerHub = Best(repeat, () => { for (int i = 0; i < 20; i++) ParquetNetPeer.ReadTyped(hub); });
            Report(results, "parquet_read_hub_x20", oursHub, peerHub, "Parquet.Net 6.1", "angry_tweets_da train (pyarrow), read 20 times");
        }

        var ids = ds.GetStrings("text").Select(t => Enumerable.Range(0, Math.Min(512, t!.Length / 5)).ToArray()).ToArray();
        var tokenized = Dataset.FromDict(new Dictionary<string, System.Collections.IList> { ["input_ids"] = ids, ["label"] = ds.GetInts("label") });
        var loader = new DataLoader(tokenized, new DataCollatorWithPadding(0), 32, SamplerKind.LengthGrouped, seed: 42);
        double collate = Best(repeat, () => { foreach (var _ in loader) { } });
        Report(results, "collate_bs32_grouped", collate, null, null, $"{loader.Count / collate,10:N0} batches/s");
        return 0;
    }

    private static void Report(BenchResults results, string op, double seconds, double? peer, string? peerName, string detail)
    {
        string ratio = peer is double p ? $"  {p / seconds:F2}x faster than {peerName}" : "";
        Console.WriteLine($"{op,-22} {seconds * 1000,9:F0} ms  {detail}{ratio}");
        var row = new JsonObject { ["suite"] = "data", ["op"] = op, ["ms"] = Math.Round(seconds * 1000, 1) };
        if (peer is double pp)
        {
            row["peer"] = peerName;
            row["peer_ms"] = Math.Round(pp * 1000, 1);
        }
        results.Add(row);
    }

    private static double Best(int repeat, Action run)
    {
        double best = double.MaxValue;
        for (int i = 0; i < repeat; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    private sealed class TempFolder : IDisposable
    {
        public TempFolder() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "finetune-bench-" + Guid.NewGuid().ToString("N")[..8]));

        public string Path { get; }

        public void Dispose()
        {
            try { Directory.Delete(Path, true); } catch (IOException) { }
        }
    }
}
