using System.Diagnostics;
using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;
using Finetune.Training.Distributed;

namespace Finetune.Bench;

/// <summary>
/// `ddp`: data-parallel training steps (forward, backward with the gradient allreduce overlapped as DDP does,
/// AdamW) at one global batch, run under `mpirun -np N` or alone; rank 0 prints tokens/s and how long the step
/// still waits for the allreduce after backward (`--no-overlap`: the allreduce starts after backward), then the
/// ring-allreduce time per step for bert-base's gradients over 10 and 25 Gb/s links. `--estimate` prints only
/// that estimate.
/// </summary>
public sealed class DdpSuite : IBenchSuite
{
    public string Name => "ddp";
    public string Description => "data-parallel step under mpirun: tokens/s and allreduce ms; options: --models mini,small --seq 128 --batch 32 (global) --iters 5 --warmup 2 --threads N (cores / local ranks) --no-overlap | --estimate";

    private static readonly Dictionary<string, (int Layers, int Hidden, int Heads, int Inter)> Sizes = new()
    {
        ["mini"] = (4, 256, 4, 1024),
        ["small"] = (4, 512, 8, 2048),
        ["base"] = (12, 768, 12, 3072),
    };

    public int Run(string[] args, BenchResults results)
    {
        if (args.Contains("--estimate")) return Estimate(results);
        bool overlap = !args.Contains("--no-overlap");
        using var comm = DistributedLaunch.Start(DistributedMode.Auto, BenchArgs.Int(args, "--threads", 0));
        if (comm == null && BenchArgs.Int(args, "--threads", 0) is int t && t > 0) Parallelism.Threads = t;
        int rank = comm?.Rank ?? 0, world = comm?.Size ?? 1;
        int globalBatch = BenchArgs.Int(args, "--batch", 32), seq = BenchArgs.Int(args, "--seq", 128), iters = BenchArgs.Int(args, "--iters", 5), warmup = BenchArgs.Int(args, "--warmup", 2);
        if (globalBatch % world != 0) { Console.Error.WriteLine($"--batch {globalBatch} is not a multiple of {world} ranks"); return 2; }
        int batch = globalBatch / world;
        if (rank == 0)
        {
            Console.WriteLine($"ddp: global batch {globalBatch} ({world} ranks x {batch}), seq {seq}, {Parallelism.Threads} threads per rank, allreduce {(overlap ? "overlapped with backward" : "after backward")}, median of {iters} after {warmup} warm-up steps");
            Console.WriteLine();
            Console.WriteLine("| model | ranks x threads | step ms | allreduce wait ms | tokens/s |");
            Console.WriteLine("|---|---|---:|---:|---:|");
        }
        foreach (string m in (BenchArgs.Get(args, "--models") ?? "mini,small").Split(','))
        {
            var (l, h, a, i) = Sizes[m];
            var config = new BertConfig(new JsonObject { ["num_hidden_layers"] = l, ["hidden_size"] = h, ["num_attention_heads"] = a, ["intermediate_size"] = i });
            var model = new BertForSequenceClassification(config, new Generator(0)); // the same init on every rank
            var (inputs, labels) = ModelChild.RandomBatch(config.VocabSize, batch, seq, new Generator(1 + (ulong)rank)); // each rank its own rows
            var adam = new Finetune.Training.AdamW(model, lr: 1e-4, weightDecay: 0.01);
            using var sync = comm != null ? new GradientAllReduce(comm, model.Parameters()) : null;
            var steps = new List<double>();
            var reduces = new List<double>();
            for (int k = 0; k < warmup + iters; k++)
            {
                using var scope = TensorScope.Begin();
                model.Train();
                long t0 = Stopwatch.GetTimestamp();
                model.ZeroGrad();
                var loss = model.Forward(inputs, (Labels)labels).Loss!;
                if (overlap) sync?.Begin();
                loss.Backward();
                long t1 = Stopwatch.GetTimestamp();
                if (overlap) sync?.Finish(loss.Item());
                else sync?.Run(loss.Item());
                long t2 = Stopwatch.GetTimestamp();
                adam.Step();
                long t3 = Stopwatch.GetTimestamp();
                if (k < warmup) continue;
                steps.Add(Stopwatch.GetElapsedTime(t0, t3).TotalMilliseconds);
                reduces.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            }
            // The slowest rank sets the pace: take each step's maximum over ranks.
            var both = steps.Concat(reduces).ToArray();
            if (comm != null)
            {
                var all = new float[both.Length * world];
                for (int k = 0; k < both.Length; k++) all[rank * both.Length + k] = (float)both[k];
                comm.AllReduceSum(all, 0, all.Length);
                for (int k = 0; k < both.Length; k++)
                    for (int r = 0; r < world; r++) both[k] = Math.Max(both[k], all[r * both.Length + k]);
            }
            double stepMs = Median(both[..iters]), reduceMs = Median(both[iters..]);
            double tokens = globalBatch * (double)seq / (stepMs / 1000);
            if (rank != 0) continue;
            Console.WriteLine($"| bert-{m} | {world} x {Parallelism.Threads} | {stepMs:F0} | {reduceMs:F1} | {tokens:F0} |");
            results.Add(new JsonObject
            {
                ["suite"] = "ddp",
                ["config"] = $"bert-{m} b{globalBatch} s{seq}",
                ["ranks"] = world,
                ["threads"] = Parallelism.Threads,
                ["ms"] = stepMs,
                ["allreduce_wait_ms"] = reduceMs,
                ["overlap"] = overlap,
                ["tokens_per_s"] = tokens,
            });
        }
        if (rank == 0)
        {
            Console.WriteLine();
            Estimate(results);
        }
        return 0;
    }

    // Ring allreduce: each rank sends and receives 2 (N - 1) / N of the gradient bytes per step.
    private static int Estimate(BenchResults results)
    {
        var (l, h, a, i) = Sizes["base"];
        var config = new BertConfig(new JsonObject { ["num_hidden_layers"] = l, ["hidden_size"] = h, ["num_attention_heads"] = a, ["intermediate_size"] = i });
        long parameters = new BertForSequenceClassification(config, new Generator(0)).NumParameters();
        double bytes = parameters * 4.0;
        Console.WriteLine($"bert-base (2 labels): {parameters} parameters, {bytes / 1e6:F1} MB of fp32 gradients per step");
        Console.WriteLine();
        Console.WriteLine("| ranks | bytes sent per rank | 10 Gb/s ms | 25 Gb/s ms |");
        Console.WriteLine("|---:|---:|---:|---:|");
        foreach (int n in new[] { 2, 4, 8, 16 })
        {
            double sent = 2.0 * (n - 1) / n * bytes;
            double ms10 = sent * 8 / 10e9 * 1000, ms25 = sent * 8 / 25e9 * 1000;
            Console.WriteLine($"| {n} | {sent / 1e6:F0} MB | {ms10:F0} | {ms25:F0} |");
            results.Add(new JsonObject { ["suite"] = "ddp-estimate", ["config"] = $"bert-base ranks {n}", ["bytes_per_rank"] = sent, ["ms_10gbps"] = ms10, ["ms_25gbps"] = ms25 });
        }
        return 0;
    }

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
