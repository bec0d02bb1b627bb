using System.Globalization;
using System.Text.Json.Nodes;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Bench;

/// <summary>`step`: one training step (forward + backward + AdamW) of BertForSequenceClassification vs its peers.</summary>
public sealed class StepSuite : IBenchSuite
{
    public string Name => "step";
    public string Description => "training step (fwd+bwd+AdamW) of BERT sizes vs TorchSharp / PyTorch, with MFU; " + ModelBench.Options;
    public int Run(string[] args, BenchResults results) => ModelBench.Run("step", args, results);
}

/// <summary>`infer`: one inference batch (forward, no gradients) vs its peers.</summary>
public sealed class InferSuite : IBenchSuite
{
    public string Name => "infer";
    public string Description => "inference batch of BERT sizes vs TorchSharp / ONNX Runtime / PyTorch, with MFU; " + ModelBench.Options;
    public int Run(string[] args, BenchResults results) => ModelBench.Run("infer", args, results);
}

/// <summary>
/// Every configuration (model × seq × batch) runs in child processes, so each peak RSS belongs to one program:
/// this program re-invoked with `--child`, then each peer (<see cref="ModelPeers"/>), and that again for
/// --rounds rounds, interleaved so a change in machine load falls on all sides alike. Reported: the median over
/// rounds of each child's median iteration time, the largest peak RSS, and MFU = model FLOPs / time / the
/// engine's GEMM peak measured at the start of the same run at the same thread count.
/// </summary>
internal static class ModelBench
{
    public const string Options = "options: --models tiny,mini,small,base,minilm (tiny,mini) --seqs 64,128 (64,128) --batch 1,8,32 (32) " +
        "--peers torchsharp,onnxruntime,pytorch|none (step: torchsharp,pytorch; infer: all three) --rounds 2 --iters 3 --warmup 3 --min-ms 0 " +
        "(keep timing until this long) --threads N (all cores) --python /usr/bin/python3 --peak-gflops G (skip the GEMM probe) --no-mfu " +
        "--gc (full GC after each step) --no-recompute (keep GELU outputs); env FINETUNE_BENCH_PHASES=1 (fwd/bwd/adam ms), FINETUNE_BENCH_MEM=1 (memory at each phase)";

    public static int Run(string mode, string[] args, BenchResults results)
    {
        // The training policy holds for this flow and the tasks it starts (every step of this process).
        using var run = args.Contains("--no-recompute") && mode != "infer" ? new RunContext(RunMode.Train, Activations: ActivationPolicy.Keep).Enter() : default;
        int threads = Int(args, "--threads", Environment.ProcessorCount);
        var child = new ModelRunOptions(Int(args, "--batch", 32), Int(args, "--iters", 3), Int(args, "--warmup", 3), threads, Int(args, "--min-ms", 0), args.Contains("--gc"));
        int at = Array.IndexOf(args, "--child");
        if (at >= 0) return ModelChild.Run(mode, ModelShape.Get(args[at + 1]), int.Parse(args[at + 2], CultureInfo.InvariantCulture), child, Str(args, "--variant", "plain"));
        at = Array.IndexOf(args, "--child-batches");
        if (at >= 0) return ModelChild.RunBatches(args[at + 1], child);
        at = Array.IndexOf(args, "--child-ort");
        if (at >= 0) return OrtInferChild.Run(args[at + 1], int.Parse(args[at + 2], CultureInfo.InvariantCulture), child);
        if (mode == "step" && args.Contains("--lora")) return RunLora(args, results, child);

        string[] models = Str(args, "--models", "tiny,mini").Split(',');
        int[] seqs = Ints(Str(args, "--seqs", "64,128"));
        int[] batches = Ints(Str(args, "--batch", "32"));
        int rounds = Int(args, "--rounds", 2);
        string peerList = args.Contains("--no-peer") ? "none" : Str(args, "--peers", mode == "step" ? "torchsharp,pytorch" : string.Join(',', ModelPeers.Names));
        string[] peerNames = peerList == "none" ? [] : peerList.Split(',');
        foreach (string m in models) ModelShape.Get(m); // unknown names fail before any measurement
        foreach (string p in peerNames)
            if (!ModelPeers.Names.Contains(p)) throw new ArgumentException($"unknown peer '{p}'; known: {string.Join(", ", ModelPeers.Names)}, none");
        var peers = new ModelPeers(Str(args, "--python", "/usr/bin/python3"), Path.Combine(Path.GetTempPath(), $"finetune-bench-onnx-{Environment.ProcessId}"));

        double? peak = args.Contains("--no-mfu") ? null : Str(args, "--peak-gflops", "") is { Length: > 0 } g ? double.Parse(g, CultureInfo.InvariantCulture) : null;
        if (peak == null && !args.Contains("--no-mfu")) peak = GemmSuite.PeakGflops(threads);
        Console.WriteLine($"{mode}: {threads} threads, {rounds} interleaved rounds of each side, each the median of >= {child.Iters} iterations (and >= {child.MinMs} ms) after {child.Warmup} warm-up; peers: {(peerNames.Length == 0 ? "none" : string.Join(", ", peerNames))}");
        if (peak is double pk) Console.WriteLine($"GEMM peak (engine, best of the BERT-base shapes, {threads} threads): {pk:F1} GFLOP/s");
        Console.WriteLine();
        Console.WriteLine("| model | seq | batch | peer | finetune ms | peer ms | speed-up | finetune MFU | peer MFU | finetune RSS MB | peer RSS MB | RSS ratio |");
        Console.WriteLine("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string m in models)
            foreach (int seq in seqs)
                foreach (int batch in batches)
                {
                    var o = child with { Batch = batch };
                    var shape = ModelShape.Get(m);
                    double flops = mode == "step" ? shape.StepFlops(batch, seq) : shape.ForwardFlops(batch, seq);
                    var self = ModelPeers.SelfCommand();
                    string ourArgs = $"{self.Prefix}{mode} --child {m} {seq} {o.CommandLine}{(o.CollectAfterStep ? " --gc" : "")}{(args.Contains("--no-recompute") ? " --no-recompute" : "")}";
                    var ours = new Rounds();
                    var theirs = peerNames.ToDictionary(p => p, _ => new Rounds());
                    for (int r = 0; r < rounds; r++)
                    {
                        ours.Add(ModelPeers.RunChild(self.File, ourArgs));
                        foreach (string p in peerNames)
                        {
                            if (theirs[p].Error != null) continue; // a peer that failed once is not retried
                            try { theirs[p].Add(peers.Run(p, mode, m, seq, o)); }
                            catch (ChildFailedException e) { theirs[p].Error = e.Message; }
                        }
                    }
                    var row = new JsonObject
                    {
                        ["suite"] = mode,
                        ["model"] = shape.Name,
                        ["seq"] = seq,
                        ["batch"] = batch,
                        ["threads"] = threads,
                        ["rounds"] = rounds,
                        ["ms"] = Math.Round(ours.Ms, 3),
                        ["p90_ms"] = Math.Round(ours.P90Ms, 3),
                        ["rss_mb"] = Math.Round(ours.PeakRss / 1e6, 1),
                        ["model_gflop"] = Math.Round(flops / 1e9, 3),
                    };
                    if (peak is double p0)
                    {
                        row["gemm_peak_gflops"] = Math.Round(p0, 1);
                        row["mfu"] = Math.Round(Mfu(flops, ours.Ms, p0), 4);
                    }
                    if (peerNames.Length == 0)
                    {
                        results.Add(row);
                        PrintRow(shape.Name, seq, batch, "-", ours, null, null);
                    }
                    foreach (string p in peerNames)
                    {
                        var t = theirs[p];
                        var line = row.DeepClone().AsObject();
                        line["peer"] = peers.Describe(p, m);
                        if (t.Error != null) line["peer_error"] = t.Error;
                        else
                        {
                            line["peer_version"] = t.Version;
                            line["peer_ms"] = Math.Round(t.Ms, 3);
                            line["peer_p90_ms"] = Math.Round(t.P90Ms, 3);
                            line["peer_rss_mb"] = Math.Round(t.PeakRss / 1e6, 1);
                            line["speedup"] = Math.Round(t.Ms / ours.Ms, 3);
                            line["rss_ratio"] = Math.Round(ours.PeakRss / t.PeakRss, 3);
                            if (peak is double p1) line["peer_mfu"] = Math.Round(Mfu(flops, t.Ms, p1), 4);
                        }
                        results.Add(line);
                        PrintRow(shape.Name, seq, batch, peers.Describe(p, m), ours, t, peak is double p2 ? Mfu(flops, t.Ms, p2) : null, peak is double p3 ? Mfu(flops, ours.Ms, p3) : null);
                    }
                }
        peers.DeleteExports();
        return 0;
    }

    /// <summary>
    /// step --lora: the full step beside a LoRA step (r 8 on query/value, peft's defaults, the head trained whole) and a
    /// head-only step (encoder frozen), each in its own child process so that its peak RSS is its own.
    /// </summary>
    private static int RunLora(string[] args, BenchResults results, ModelRunOptions o)
    {
        string[] models = Str(args, "--models", "mini,small,base").Split(',');
        int[] seqs = Ints(Str(args, "--seqs", "128"));
        string[] variants = ["full", "lora", "head"];
        Console.WriteLine($"step --lora: batch {o.Batch}, {o.Threads} threads, median of {o.Iters} after {o.Warmup} warm-up steps; LoRA r 8 alpha 8 on query,value");
        Console.WriteLine();
        Console.WriteLine("| model | seq | full ms | LoRA ms | head-only ms | LoRA/full time | head/full time | full peak RSS MB | LoRA peak RSS MB | head peak RSS MB | LoRA/full RSS |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var self = ModelPeers.SelfCommand();
        foreach (string m in models)
            foreach (int seq in seqs)
            {
                var shape = ModelShape.Get(m);
                var ms = new Dictionary<string, double>();
                var rss = new Dictionary<string, double>();
                foreach (string v in variants)
                {
                    var r = ModelPeers.RunChild(self.File, $"{self.Prefix}step --child {m} {seq} {o.CommandLine} --variant {v}{(o.CollectAfterStep ? " --gc" : "")}");
                    ms[v] = r["ms"]!.GetValue<double>();
                    rss[v] = r["peak_rss"]!.GetValue<double>() / 1e6;
                    results.Add(new JsonObject
                    {
                        ["suite"] = "step-lora",
                        ["model"] = shape.Name,
                        ["seq"] = seq,
                        ["batch"] = o.Batch,
                        ["threads"] = o.Threads,
                        ["variant"] = v,
                        ["ms"] = Math.Round(ms[v], 3),
                        ["rss_mb"] = Math.Round(rss[v], 1),
                    });
                }
                string R(double x) => x.ToString("F2", CultureInfo.InvariantCulture);
                Console.WriteLine($"| {shape.Name} | {seq} | {ms["full"]:F0} | {ms["lora"]:F0} | {ms["head"]:F0} | {R(ms["lora"] / ms["full"])}x | {R(ms["head"] / ms["full"])}x | {rss["full"]:F0} | {rss["lora"]:F0} | {rss["head"]:F0} | {R(rss["lora"] / rss["full"])} |");
            }
        return 0;
    }

    private static double Mfu(double flops, double ms, double peakGflops) => flops / (ms / 1000) / (peakGflops * 1e9);

    private static void PrintRow(string model, int seq, int batch, string peer, Rounds ours, Rounds? theirs, double? peerMfu, double? ourMfu = null)
    {
        string F(double? v, string f) => v is double d && !double.IsNaN(d) ? d.ToString(f, CultureInfo.InvariantCulture) : "-";
        bool ok = theirs is { Error: null };
        string peerCell = theirs?.Error is string e ? $"{peer} (error: {e})" : peer;
        Console.WriteLine($"| {model} | {seq} | {batch} | {peerCell} | {F(ours.Ms, "F1")} | {F(ok ? theirs!.Ms : null, "F1")} | {(ok ? F(theirs!.Ms / ours.Ms, "F2") + "x" : "-")} | " +
            $"{F(ourMfu * 100, "F0")}{(ourMfu != null ? "%" : "")} | {(ok ? F(peerMfu * 100, "F0") + "%" : "-")} | {F(ours.PeakRss / 1e6, "F0")} | {F(ok ? theirs!.PeakRss / 1e6 : null, "F0")} | {(ok ? F(ours.PeakRss / theirs!.PeakRss, "F2") : "-")} |");
    }

    /// <summary>One side's figures over the rounds: median of the per-round medians, the largest peak RSS.</summary>
    private sealed class Rounds
    {
        private readonly List<double> _ms = new(), _p90 = new();
        public double PeakRss { get; private set; }
        public string? Version { get; private set; }
        public string? Error { get; set; }
        public double Ms => Median(_ms);
        public double P90Ms => Median(_p90);

        public void Add(JsonObject child)
        {
            _ms.Add(child["ms"]!.GetValue<double>());
            _p90.Add(child["p90_ms"]?.GetValue<double>() ?? child["ms"]!.GetValue<double>());
            PeakRss = Math.Max(PeakRss, child["peak_rss"]!.GetValue<double>());
            Version = child["torch"]?.GetValue<string>();
        }

        private static double Median(List<double> v)
        {
            if (v.Count == 0) return double.NaN;
            var s = v.Order().ToList();
            return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
        }
    }

    private static int[] Ints(string list) => list.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    private static int Int(string[] a, string name, int def) => Array.IndexOf(a, name) is int i and >= 0 && i + 1 < a.Length && int.TryParse(a[i + 1], out int v) ? v : def;

    private static string Str(string[] a, string name, string def) => Array.IndexOf(a, name) is int i and >= 0 && i + 1 < a.Length ? a[i + 1] : def;
}
