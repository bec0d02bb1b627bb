using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tensors;

namespace Finetune.Bench;

/// <summary>`step`: one training step (forward + backward + AdamW) of BertForSequenceClassification vs PyTorch.</summary>
public sealed class StepSuite : IBenchSuite
{
    public string Name => "step";
    public string Description => "training step (fwd+bwd+AdamW) of BERT sizes vs PyTorch; " + ModelBench.Options;
    public int Run(string[] args, BenchResults results) => ModelBench.Run("step", args, results);
}

/// <summary>`infer`: one inference batch (forward, no gradients) vs PyTorch.</summary>
public sealed class InferSuite : IBenchSuite
{
    public string Name => "infer";
    public string Description => "inference batch of BERT sizes vs PyTorch; " + ModelBench.Options;
    public int Run(string[] args, BenchResults results) => ModelBench.Run("infer", args, results);
}

/// <summary>
/// Each configuration runs in a child process (so peak RSS belongs to it alone): this program re-invoked with
/// `--child`, and the PyTorch peer `bench/peers/torch_bert.py` building the same architecture with the same
/// batch, thread count and iteration count. Reported time: median of the timed iterations after one warm-up.
/// </summary>
internal static class ModelBench
{
    /// <summary>A full batch of random token ids (above the special tokens) and random binary labels.</summary>
    public static (EncoderInputs Inputs, int[] Labels) RandomBatch(int vocabSize, int batch, int seq, Generator rng)
    {
        var ids = new int[batch * seq];
        for (int k = 0; k < ids.Length; k++) ids[k] = 1000 + rng.NextInt(vocabSize - 1000);
        var mask = new int[batch * seq];
        Array.Fill(mask, 1);
        var labels = new int[batch];
        for (int k = 0; k < batch; k++) labels[k] = rng.NextInt(2);
        return (new EncoderInputs(IntTensor.FromArray(ids, batch, seq), IntTensor.FromArray(mask, batch, seq), IntTensor.Zeros(batch, seq)), labels);
    }

    public const string Options = "options: --models tiny,mini,small,base (tiny,mini) --seqs 64,128 (64,128) --batch 32 --iters 3 --warmup 3 --threads 2 --python /usr/bin/python3 --no-peer --gc (full GC after each step) --no-recompute (keep GELU outputs: TensorScope.RecomputeActivations = false); env FINETUNE_BENCH_PHASES=1 (fwd/bwd/adam ms), FINETUNE_BENCH_MEM=1 (memory at each phase)";

    private static readonly Dictionary<string, (int Layers, int Hidden, int Heads, int Inter)> Sizes = new()
    {
        ["tiny"] = (2, 128, 2, 512),
        ["mini"] = (4, 256, 4, 1024),
        ["small"] = (4, 512, 8, 2048),
        ["base"] = (12, 768, 12, 3072),
    };

    public static int Run(string mode, string[] args, BenchResults results)
    {
        int childAt = Array.IndexOf(args, "--child");
        TensorScope.RecomputeActivations = !args.Contains("--no-recompute");
        if (childAt >= 0) return Child(mode, args[childAt + 1], int.Parse(args[childAt + 2]), Int(args, "--batch", 32), Int(args, "--iters", 3), Int(args, "--warmup", 3), Int(args, "--threads", 2), args.Contains("--gc"), Str(args, "--variant", "plain"));
        if (mode == "step" && args.Contains("--lora")) return RunLora(args, results);
        string[] models = Str(args, "--models", "tiny,mini").Split(',');
        int[] seqs = Str(args, "--seqs", "64,128").Split(',').Select(int.Parse).ToArray();
        int batch = Int(args, "--batch", 32), iters = Int(args, "--iters", 3), warmup = Int(args, "--warmup", 3), threads = Int(args, "--threads", 2);
        string python = Str(args, "--python", "/usr/bin/python3");
        bool peer = !args.Contains("--no-peer");
        string script = FindScript();
        Console.WriteLine($"{mode}: batch {batch}, {threads} threads, median of {iters} after {warmup} warm-up steps; peer PyTorch via {python}");
        Console.WriteLine();
        Console.WriteLine("| model | seq | finetune ms | pytorch ms | speed-up | finetune peak RSS MB | pytorch peak RSS MB | RSS ratio |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string m in models)
            foreach (int seq in seqs)
            {
                var (l, h, a, i) = Sizes[m];
                string common = $"--batch {batch} --iters {iters} --warmup {warmup} --threads {threads}";
                var ours = RunChild(SelfCommand(), $"{mode} --child {m} {seq} {common}{(args.Contains("--gc") ? " --gc" : "")}{(args.Contains("--no-recompute") ? " --no-recompute" : "")}");
                JsonObject? theirs = peer && File.Exists(python)
                    ? RunChild(python, $"{script} --mode {mode} --layers {l} --hidden {h} --heads {a} --inter {i} --seq {seq} {common}")
                    : null;
                double ms = ours["ms"]!.GetValue<double>(), rss = ours["peak_rss"]!.GetValue<double>() / 1e6;
                double? pms = theirs?["ms"]!.GetValue<double>(), prss = theirs?["peak_rss"]!.GetValue<double>() / 1e6;
                Console.WriteLine($"| bert-{m} | {seq} | {ms:F0} | {F(pms)} | {(pms is double p ? (p / ms).ToString("F2") + "x" : "-")} | {rss:F0} | {F(prss)} | {(prss is double q ? (rss / q).ToString("F2") : "-")} |");
                results.Add(new JsonObject
                {
                    ["suite"] = mode,
                    ["config"] = $"bert-{m} b{batch} s{seq}",
                    ["threads"] = threads,
                    ["ms"] = ms,
                    ["peak_rss_bytes"] = ours["peak_rss"]!.GetValue<double>(),
                    ["peer"] = "pytorch " + (theirs?["torch"]?.GetValue<string>() ?? "absent"),
                    ["peer_ms"] = pms,
                    ["peer_peak_rss_bytes"] = theirs?["peak_rss"]?.GetValue<double>(),
                });
            }
        return 0;
    }

    /// <summary>
    /// step --lora: the full step beside a LoRA step (r 8 on query/value, peft's defaults, the head trained whole) and a
    /// head-only step (encoder frozen), each in its own child process so that its peak RSS is its own.
    /// </summary>
    private static int RunLora(string[] args, BenchResults results)
    {
        string[] models = Str(args, "--models", "mini,small,base").Split(',');
        int[] seqs = Str(args, "--seqs", "128").Split(',').Select(int.Parse).ToArray();
        int batch = Int(args, "--batch", 32), iters = Int(args, "--iters", 3), warmup = Int(args, "--warmup", 3), threads = Int(args, "--threads", 2);
        string[] variants = ["full", "lora", "head"];
        Console.WriteLine($"step --lora: batch {batch}, {threads} threads, median of {iters} after {warmup} warm-up steps; LoRA r 8 alpha 8 on query,value");
        Console.WriteLine();
        Console.WriteLine("| model | seq | full ms | LoRA ms | head-only ms | LoRA/full time | head/full time | full peak RSS MB | LoRA peak RSS MB | head peak RSS MB | LoRA/full RSS |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string m in models)
            foreach (int seq in seqs)
            {
                var ms = new Dictionary<string, double>();
                var rss = new Dictionary<string, double>();
                foreach (string v in variants)
                {
                    var r = RunChild(SelfCommand(), $"step --child {m} {seq} --batch {batch} --iters {iters} --warmup {warmup} --threads {threads} --variant {v}{(args.Contains("--gc") ? " --gc" : "")}");
                    ms[v] = r["ms"]!.GetValue<double>();
                    rss[v] = r["peak_rss"]!.GetValue<double>() / 1e6;
                    results.Add(new JsonObject
                    {
                        ["suite"] = "step-lora",
                        ["config"] = $"bert-{m} b{batch} s{seq} {v}",
                        ["threads"] = threads,
                        ["ms"] = ms[v],
                        ["peak_rss_bytes"] = r["peak_rss"]!.GetValue<double>(),
                    });
                }
                Console.WriteLine($"| bert-{m} | {seq} | {ms["full"]:F0} | {ms["lora"]:F0} | {ms["head"]:F0} | {ms["lora"] / ms["full"]:F2}x | {ms["head"] / ms["full"]:F2}x | {rss["full"]:F0} | {rss["lora"]:F0} | {rss["head"]:F0} | {rss["lora"] / rss["full"]:F2} |");
            }
        return 0;
    }

    private static string F(double? v) => v is double d ? d.ToString("F0") : "-";

    private static int Child(string mode, string size, int seq, int batch, int iters, int warmup, int threads, bool collect, string variant)
    {
        Parallelism.Threads = threads;
        var (l, h, a, i) = Sizes[size];
        var config = new BertConfig(new JsonObject
        {
            ["num_hidden_layers"] = l,
            ["hidden_size"] = h,
            ["num_attention_heads"] = a,
            ["intermediate_size"] = i,
        });
        var model = new BertForSequenceClassification(config, new Generator(0));
        Memory("model built");
        var (inputs, labels) = ModelBench.RandomBatch(config.VocabSize, batch, seq, new Generator(1));
        // step --lora's variants freeze what the Trainer would (--lora, --freeze-base); the optimizer then holds state
        // for the trained parameters only, as the Trainer's groups do.
        if (variant == "lora") Finetune.Peft.PeftModel.GetPeftModel(model, new Finetune.Peft.LoraConfig(), new Generator(2));
        else if (variant == "head") Finetune.Peft.Freezing.FreezeBase(model);
        var adam = variant == "plain"
            ? new Finetune.Training.AdamW(model, lr: 1e-4, weightDecay: 0.01) // the library's optimizer, as the Trainer uses it
            : new Finetune.Training.AdamW(TrainerGroups(model), lr: 1e-4);
        void Once()
        {
            using var scope = TensorScope.Begin(); // activations go back to the pool at the end of the step
            if (mode == "step")
            {
                model.Train();
                long t0 = Stopwatch.GetTimestamp();
                model.ZeroGrad();
                var loss = model.Forward(inputs, (Labels)labels).Loss!;
                long t1 = Stopwatch.GetTimestamp();
                Memory("after forward");
                loss.Backward();
                Memory("after backward");
                long t2 = Stopwatch.GetTimestamp();
                adam.Step();
                long t3 = Stopwatch.GetTimestamp();
                if (Environment.GetEnvironmentVariable("FINETUNE_BENCH_PHASES") == "1")
                    Console.Error.WriteLine($"fwd {Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds:F1} bwd {Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds:F1} adam {Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds:F1}");
                Memory("after AdamW");
                if (collect) GC.Collect(); // reclaims the step's activations (pinned buffers live until a full GC)
            }
            else
            {
                model.Eval();
                using (Tensor.NoGrad()) model.Forward(inputs);
                Memory("after inference");
            }
        }
        for (int k = 0; k < warmup; k++) Once();
        var times = new List<double>();
        for (int k = 0; k < iters; k++)
        {
            var sw = Stopwatch.StartNew();
            Once();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine(new JsonObject { ["ms"] = times[times.Count / 2], ["peak_rss"] = (double)Process.GetCurrentProcess().PeakWorkingSet64 }.ToJsonString());
        return 0;
    }

    private static readonly bool ShowMemory = Environment.GetEnvironmentVariable("FINETUNE_BENCH_MEM") == "1";

    /// <summary>With FINETUNE_BENCH_MEM=1, where the memory is at a point of the step (stderr): RSS, the buffer pool's rented/idle/peak MB, GC heap.</summary>
    private static void Memory(string point)
    {
        if (!ShowMemory) return;
        using var p = Process.GetCurrentProcess();
        Console.Error.WriteLine($"{point}: rss {p.WorkingSet64 / 1e6:F0} peak {p.PeakWorkingSet64 / 1e6:F0} | pool rented {BufferPool.LiveFloats * 4 / 1e6:F0} idle {BufferPool.IdleFloats * 4 / 1e6:F0} peak rented {BufferPool.MaxLiveFloats * 4 / 1e6:F0} | gc heap {GC.GetTotalMemory(false) / 1e6:F0} gen2 {GC.CollectionCount(2)}\n  idle: {BufferPool.DescribeIdle()}");
    }

    private static (string File, string Prefix) SelfCommand()
    {
        string exe = Environment.ProcessPath!;
        string dll = typeof(ModelBench).Assembly.Location;
        return Path.GetFileNameWithoutExtension(exe) == "dotnet" ? (exe, $"\"{dll}\" ") : (exe, "");
    }

    private static JsonObject RunChild((string File, string Prefix) cmd, string args) => RunChild(cmd.File, cmd.Prefix + args);

    private static JsonObject RunChild(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        string? line = stdout.Split('\n').LastOrDefault(s => s.TrimStart().StartsWith('{'));
        if (p.ExitCode != 0 || line == null) throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {stderr}{stdout}");
        return JsonNode.Parse(line)!.AsObject();
    }

    private static string FindScript()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, "bench", "peers", "torch_bert.py");
            if (File.Exists(p)) return p;
        }
        return "bench/peers/torch_bert.py";
    }

    private static Finetune.Training.ParamGroup[] TrainerGroups(Finetune.Nn.Module model)
    {
        var (decay, noDecay) = Finetune.Training.OptimizerUtils.TrainerParamGroups(model, 0.01);
        return [decay, noDecay];
    }

    private static int Int(string[] a, string name, int def) => Array.IndexOf(a, name) is int i and >= 0 ? int.Parse(a[i + 1]) : def;

    private static string Str(string[] a, string name, string def) => Array.IndexOf(a, name) is int i and >= 0 ? a[i + 1] : def;
}
