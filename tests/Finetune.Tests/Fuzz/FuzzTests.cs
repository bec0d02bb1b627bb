using Encoding = System.Text.Encoding;
using System.Text.Json.Nodes;
using Finetune.Data;
using Finetune.Models;
using Finetune.Tokenizers;
using Finetune.Weights;

namespace Finetune.Tests.Fuzz;

/// <summary>
/// Each reader against seeded mutations of a real file (from ../shared, cut down so a case is quick): whatever the
/// bytes, the outcome is an exit code README documents for bad input (never 1, never a crash), a message naming
/// the file, within <see cref="Bounded.CaseLimit"/>, and a bounded allocation. FUZZ_CASES=100000 runs the same
/// generators longer (README "Input limits"); a failure prints the reader, case and mutation to reproduce it.
/// </summary>
public class FuzzTests
{
    /// <summary>Cases per reader; the default keeps the whole suite to about a minute on two cores.</summary>
    private static int Cases(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("FUZZ_CASES"), out int n) && n > 0 ? n : fallback;

    /// <summary>Managed bytes one case may allocate on its thread: far above any seed here, far below a runaway table.</summary>
    private const long AllocationLimit = 1L << 30;

    /// <summary>
    /// Runs <paramref name="cases"/> mutations of <paramref name="seed"/>; <paramref name="drive"/> writes the
    /// mutated bytes into the case folder and runs the reader on them.
    /// </summary>
    private static void Fuzz(string reader, byte[] seed, Shape shape, int seedNumber, int cases, Func<string, byte[], Outcome> drive)
    {
        using var tmp = new TempDir();
        var failures = new List<string>();
        int refused = 0;
        for (int i = 0; i < cases; i++)
        {
            var rng = new Random(seedNumber * 1_000_003 + i);
            var (bytes, what) = Mutator.Mutate(seed, shape, rng);
            string dir = Directory.CreateDirectory(tmp.File("case" + i)).FullName;
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            Outcome o = drive(dir, bytes);
            if (Environment.GetEnvironmentVariable("FUZZ_TRACE") is { } trace)
                File.AppendAllText(trace, $"{reader}\t{i}\t{System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0}\t{o.Code}\t{what}\n");
            string label = $"{reader} case {i} ({what})";
            if (!Bounded.DocumentedCodes.Contains(o.Code)) failures.Add($"{label}: exit {o.Code}: {o.Message}");
            else if (o.Code != 0 && !o.Message.Contains(dir, StringComparison.Ordinal)) failures.Add($"{label}: the message does not name the file: {o.Message}");
            else if (o.AllocatedBytes > AllocationLimit) failures.Add($"{label}: allocated {o.AllocatedBytes:N0} bytes");
            if (o.Code != 0) refused++;
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} cases failed:\n" + string.Join("\n", failures.Take(10)));
        Assert.True(refused > 0, $"none of the {cases} mutations of the {reader} seed was refused: the generator is not reaching the reader");
    }

    private static Outcome Library(string path, Action<string> read) => Bounded.Library(() => read(path), path);

    private static void ReadAll(ITensorSource source)
    {
        foreach (string name in source.Names)
        {
            if (source.Info(name).DType.IsFloat()) source.ReadFloat(name);
            else source.ReadInt64(name);
        }
    }

    [SkippableFact]
    public void SafeTensors()
    {
        byte[] seed = File.ReadAllBytes(SharedData.Require("golden/models/bert/model.safetensors"));
        Fuzz("safetensors", seed, Shape.SafeTensors, 1, Cases(300), (dir, bytes) =>
        {
            string path = Path.Combine(dir, "model.safetensors");
            File.WriteAllBytes(path, bytes);
            return Library(path, p => { using var f = Checkpoint.OpenFile(p); ReadAll(f); });
        });
    }

    [SkippableFact]
    public void TorchPickle()
    {
        byte[] seed = File.ReadAllBytes(SharedData.Require("golden/models/bert/bin/pytorch_model.bin"));
        Fuzz("pytorch_model.bin", seed, Shape.Binary, 2, Cases(300), (dir, bytes) =>
        {
            string path = Path.Combine(dir, "pytorch_model.bin");
            File.WriteAllBytes(path, bytes);
            return Library(path, p => { using var f = Checkpoint.OpenFile(p); ReadAll(f); });
        });
    }

    [SkippableFact]
    public void ConfigJsonWithItsCheckpoint()
    {
        string golden = SharedData.Require("golden/models/bert");
        byte[] seed = File.ReadAllBytes(Path.Combine(golden, "config.json"));
        Fuzz("config.json", seed, Shape.Json, 3, Cases(200), (dir, bytes) =>
        {
            File.WriteAllBytes(Path.Combine(dir, "config.json"), bytes);
            File.Copy(Path.Combine(golden, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
            return Library(dir, d => AutoModelForSequenceClassification.FromPretrained(d));
        });
    }

    private const string Sample = "Hello world, a tést of the tokenizer! 東京 ünïcödé";

    /// <summary>The entries of a token → id object whose id is below <paramref name="n"/> (a new object: removing is slow).</summary>
    private static JsonObject FirstIds(JsonObject vocab, int n)
    {
        var kept = new JsonObject();
        foreach (var (k, v) in vocab)
            if ((int)v! < n) kept[k] = v!.DeepClone();
        return kept;
    }

    [SkippableFact]
    public void TokenizerJson()
    {
        // bert-base-uncased's tokenizer.json with its vocabulary cut to the first 2000 ids (specials included).
        var root = JsonNode.Parse(File.ReadAllText(SharedData.Require("models/bert-base-uncased/tokenizer.json")))!.AsObject();
        root["model"]!["vocab"] = FirstIds(root["model"]!["vocab"]!.AsObject(), 2000);
        byte[] seed = Encoding.UTF8.GetBytes(root.ToJsonString());
        Fuzz("tokenizer.json", seed, Shape.Json, 4, Cases(200), (dir, bytes) =>
        {
            File.WriteAllBytes(Path.Combine(dir, "tokenizer.json"), bytes);
            return Library(dir, d => AutoTokenizer.FromPretrained(d).Encode(Sample, "a pair"));
        });
    }

    [SkippableFact]
    public void VocabJsonAndMerges()
    {
        // roberta-base's vocab.json cut to ids below 3000 and the merges among those tokens.
        string model = SharedData.Require("models/roberta-base");
        var vocab = FirstIds(JsonNode.Parse(File.ReadAllText(Path.Combine(model, "vocab.json")))!.AsObject(), 3000);
        var merges = File.ReadLines(Path.Combine(model, "merges.txt")).Skip(1).Select(l => l.Split(' '))
            .Where(p => p.Length == 2 && vocab.ContainsKey(p[0]) && vocab.ContainsKey(p[1]) && vocab.ContainsKey(p[0] + p[1]))
            .Take(2000).Select(p => p[0] + " " + p[1]);
        byte[] vocabSeed = Encoding.UTF8.GetBytes(vocab.ToJsonString());
        byte[] mergesSeed = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join("\n", merges) + "\n");
        int n = Cases(300);
        Fuzz("vocab.json", vocabSeed, Shape.Json, 5, n / 2, (dir, bytes) =>
        {
            File.WriteAllBytes(Path.Combine(dir, "vocab.json"), bytes);
            File.WriteAllBytes(Path.Combine(dir, "merges.txt"), mergesSeed);
            return Library(dir, d => AutoTokenizer.FromPretrained(d).Encode(Sample));
        });
        Fuzz("merges.txt", mergesSeed, Shape.Lines, 6, n - n / 2, (dir, bytes) =>
        {
            File.WriteAllBytes(Path.Combine(dir, "vocab.json"), vocabSeed);
            File.WriteAllBytes(Path.Combine(dir, "merges.txt"), bytes);
            return Library(dir, d => AutoTokenizer.FromPretrained(d).Encode(Sample));
        });
    }

    [SkippableFact]
    public void VocabTxt()
    {
        var lines = File.ReadLines(SharedData.Require("models/bert-base-uncased/vocab.txt")).Take(3000);
        byte[] seed = Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n");
        Fuzz("vocab.txt", seed, Shape.Lines, 7, Cases(200), (dir, bytes) =>
        {
            File.WriteAllBytes(Path.Combine(dir, "vocab.txt"), bytes);
            return Library(dir, d => AutoTokenizer.FromPretrained(d).Encode(Sample));
        });
    }

    [SkippableFact]
    public void SentencePieceModel()
    {
        byte[] seed = File.ReadAllBytes(SharedData.Require("models/albert-base-v2/spiece.model"));
        Fuzz("spiece.model", seed, Shape.Binary, 8, Cases(100), (dir, bytes) =>
        {
            File.WriteAllBytes(Path.Combine(dir, "spiece.model"), bytes);
            return Library(dir, d => AutoTokenizer.FromPretrained(d).Encode(Sample));
        });
    }

    private static byte[] FirstLines(string path, int n) =>
        Encoding.UTF8.GetBytes(string.Join("\n", File.ReadLines(path).Take(n)) + "\n");

    [SkippableFact]
    public void Csv()
    {
        byte[] seed = FirstLines(SharedData.Require("datasets/rotten_tomatoes/hf_splits/validation.csv"), 300);
        Fuzz("csv", seed, Shape.Lines, 9, Cases(300), (dir, bytes) =>
        {
            string path = Path.Combine(dir, "data.csv");
            File.WriteAllBytes(path, bytes);
            return Library(path, p => Dataset.FromFile(p));
        });
    }

    [SkippableFact]
    public void Tsv()
    {
        byte[] seed = FirstLines(SharedData.Require("datasets/glue/CoLA/dev.tsv"), 300);
        Fuzz("tsv", seed, Shape.Lines, 10, Cases(200), (dir, bytes) =>
        {
            string path = Path.Combine(dir, "data.tsv");
            File.WriteAllBytes(path, bytes);
            return Library(path, p => Dataset.FromFile(p));
        });
    }

    [SkippableFact]
    public void Jsonl()
    {
        byte[] seed = FirstLines(SharedData.Require("datasets/rotten_tomatoes/hf_splits/validation.jsonl"), 300);
        Fuzz("jsonl", seed, Shape.Json, 11, Cases(300), (dir, bytes) =>
        {
            string path = Path.Combine(dir, "data.jsonl");
            File.WriteAllBytes(path, bytes);
            return Library(path, p => Dataset.FromFile(p));
        });
    }

    [SkippableFact]
    public void Parquet()
    {
        string data = SharedData.Require("parquet-testing/data");
        string[] sources = ["alltypes_plain.parquet", "datapage_v2.snappy.parquet", "delta_byte_array.parquet", "null_list.parquet"];
        int n = Cases(300);
        for (int s = 0; s < sources.Length; s++)
        {
            byte[] seed = File.ReadAllBytes(Path.Combine(data, sources[s]));
            Fuzz(sources[s], seed, Shape.Binary, 12 + s, n / sources.Length, (dir, bytes) =>
            {
                string path = Path.Combine(dir, "data.parquet");
                File.WriteAllBytes(path, bytes);
                return Library(path, p => Dataset.FromFile(p));
            });
        }
    }

    /// <summary>A save_to_disk folder whose Arrow IPC stream shard is mutated (state.json and dataset_info.json intact).</summary>
    [Fact]
    public void ArrowSaveToDisk()
    {
        using var tmp = new TempDir();
        int rows = 200;
        var ds = Dataset.FromDict(new Dictionary<string, System.Collections.IList>
        {
            ["text"] = Enumerable.Range(0, rows).Select(i => i % 9 == 0 ? null : "review " + i + " ✓").ToArray(),
            ["label"] = Enumerable.Range(0, rows).Select(i => (long)(i % 3)).ToArray(),
            ["score"] = Enumerable.Range(0, rows).Select(i => i * 0.5).ToArray(),
            ["flag"] = Enumerable.Range(0, rows).Select(i => i % 2 == 0).ToArray(),
            ["input_ids"] = Enumerable.Range(0, rows).Select(i => Enumerable.Range(100, i % 17).ToArray()).ToArray(),
        }, new Features { { "label", new ClassLabel(["neg", "neu", "pos"]) } });
        string saved = tmp.File("saved");
        ds.SaveToDisk(saved);
        const string shard = "data-00000-of-00001.arrow";
        byte[] seed = File.ReadAllBytes(Path.Combine(saved, shard));
        Fuzz("arrow", seed, Shape.Binary, 20, Cases(300), (dir, bytes) =>
        {
            File.Copy(Path.Combine(saved, "state.json"), Path.Combine(dir, "state.json"));
            File.Copy(Path.Combine(saved, "dataset_info.json"), Path.Combine(dir, "dataset_info.json"));
            File.WriteAllBytes(Path.Combine(dir, shard), bytes);
            return Library(dir, d => Dataset.LoadFromDisk(d));
        });
    }
}
