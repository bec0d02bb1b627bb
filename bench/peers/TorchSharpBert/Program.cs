using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace TorchSharpBert;

/// <summary>
/// TorchSharp peer of `bench -- step` / `bench -- infer`: one configuration per process, the same options as
/// bench/peers/torch_bert.py (--mode step|infer --layers --hidden --heads --inter --batch --seq --iters --warmup
/// --threads [--min-ms]), printing one JSON line {"ms": median, "peak_rss": bytes, "torch": version}; and
/// `--mode epoch --batches FILE` for the bench's epoch suite. Each step
/// runs in a dispose scope, as a TorchSharp user would write it, so tensors are freed when the step ends.
/// Exit 1 with the reason on stderr when LibTorch cannot load (see bench/peers/setup_torchsharp.sh).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            return Run(args);
        }
        catch (Exception e)
        {
            // The first cause is the useful one (a TypeInitializationException wraps the dlopen error).
            var inner = e;
            while (inner.InnerException != null) inner = inner.InnerException;
            Console.Error.WriteLine($"torchsharp: {inner.GetType().Name}: {inner.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }

    private static int Run(string[] args)
    {
        string mode = Option(args, "--mode", null);
        if (mode is not ("step" or "infer" or "epoch")) throw new ArgumentException("--mode step|infer|epoch");
        int Int(string name, int? fallback = null) => int.Parse(Option(args, name, fallback?.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        if (mode == "epoch") return Epoch(Option(args, "--batches", null), Int("--layers"), Int("--hidden"), Int("--heads"), Int("--inter"), Int("--threads"));
        int threads = Int("--threads"), batch = Int("--batch"), seq = Int("--seq"), iters = Int("--iters"), warmup = Int("--warmup", 1), minMs = Int("--min-ms", 0);
        torch.set_num_threads(threads);
        torch.manual_seed(0);
        var model = new Bert(Int("--layers"), Int("--hidden"), Int("--heads"), Int("--inter"));
        var ids = torch.randint(1000, 30522, [batch, seq], ScalarType.Int64);
        var mask = torch.ones([batch, seq], ScalarType.Int64);
        var types = torch.zeros([batch, seq], ScalarType.Int64);
        var labels = torch.randint(0, 2, [batch], ScalarType.Int64);
        var adam = torch.optim.AdamW(model.parameters(), lr: 1e-4, weight_decay: 0.01);

        void Once()
        {
            using var scope = torch.NewDisposeScope();
            if (mode == "step")
            {
                model.train();
                adam.zero_grad();
                nn.functional.cross_entropy(model.forward(ids, mask, types), labels).backward();
                adam.step();
            }
            else
            {
                model.eval();
                using var noGrad = torch.no_grad();
                model.forward(ids, mask, types);
            }
        }

        for (int k = 0; k < warmup; k++) Once();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < iters || total.Elapsed.TotalMilliseconds < minMs)
        {
            long t0 = Stopwatch.GetTimestamp();
            Once();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        times.Sort();
        string version = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(new JsonObject
        {
            ["ms"] = times[times.Count / 2],
            ["p90_ms"] = times[(int)(times.Count * 0.9)],
            ["peak_rss"] = (double)self.PeakWorkingSet64,
            ["torch"] = "TorchSharp " + version.Split('+')[0],
        }.ToJsonString());
        return 0;
    }

    /// <summary>
    /// Training steps over the batches the bench's epoch suite wrote (JSON lines {"seq", "labels", "ids"}, pad id
    /// 0): one pass, no warm-up, as an epoch runs; prints samples/s and peak RSS.
    /// </summary>
    private static int Epoch(string path, int layers, int hidden, int heads, int inter, int threads)
    {
        torch.set_num_threads(threads);
        torch.manual_seed(0);
        var model = new Bert(layers, hidden, heads, inter);
        var adam = torch.optim.AdamW(model.parameters(), lr: 5e-5, weight_decay: 0.01);
        model.train();
        var batches = new List<(Tensor Ids, Tensor Mask, Tensor Types, Tensor Labels)>(); // read before the clock starts
        foreach (string line in File.ReadLines(path))
        {
            var b = JsonNode.Parse(line)!;
            long seq = b["seq"]!.GetValue<long>();
            long[] ids = b["ids"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            long[] labels = b["labels"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            var idTensor = torch.tensor(ids, [labels.Length, seq]);
            batches.Add((idTensor, idTensor.ne(0).to_type(ScalarType.Int64), torch.zeros([labels.Length, seq], ScalarType.Int64), torch.tensor(labels)));
        }
        var clock = Stopwatch.StartNew();
        long samples = 0;
        foreach (var (ids, mask, types, labels) in batches)
        {
            using var scope = torch.NewDisposeScope();
            adam.zero_grad();
            nn.functional.cross_entropy(model.forward(ids, mask, types), labels).backward();
            adam.step();
            samples += labels.shape[0];
        }
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(new JsonObject { ["samples_per_s"] = samples / clock.Elapsed.TotalSeconds, ["peak_rss"] = (double)self.PeakWorkingSet64 }.ToJsonString());
        return 0;
    }

    private static string Option(string[] args, string name, string? fallback)
    {
        int i = Array.IndexOf(args, name);
        if (i >= 0 && i + 1 < args.Length) return args[i + 1];
        return fallback ?? throw new ArgumentException($"missing {name}");
    }
}
