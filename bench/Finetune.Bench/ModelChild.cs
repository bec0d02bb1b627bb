using System.Diagnostics;
using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Bench;

/// <summary>
/// Our side of `step` / `infer`, one configuration in its own process (`SUITE --child MODEL SEQ ...`), so its
/// peak RSS is its own. Prints one JSON line: median and 90th-percentile ms of the timed iterations, peak RSS.
/// </summary>
internal static class ModelChild
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

    /// <summary>A classifier of <paramref name="shape"/> with random weights (seeded), as the suites and the ONNX export build it.</summary>
    public static BertForSequenceClassification Build(ModelShape shape)
    {
        var config = new BertConfig(new JsonObject
        {
            ["num_hidden_layers"] = shape.Layers,
            ["hidden_size"] = shape.Hidden,
            ["num_attention_heads"] = shape.Heads,
            ["intermediate_size"] = shape.Inter,
        });
        return new BertForSequenceClassification(config, new Generator(0));
    }

    /// <summary>
    /// <paramref name="variant"/>: "plain" (the library's AdamW over every parameter), or for step --lora "full",
    /// "lora" (peft's defaults on query/value) and "head" (encoder frozen), which freeze what the Trainer would with
    /// --lora / --freeze-base and give the optimizer the trained parameters only, as the Trainer's groups do.
    /// </summary>
    public static int Run(string mode, ModelShape shape, int seq, ModelRunOptions o, string variant = "plain")
    {
        Parallelism.Threads = o.Threads;
        var model = Build(shape);
        Memory("model built");
        var (inputs, labels) = RandomBatch(ModelShape.Vocab, o.Batch, seq, new Generator(1));
        if (variant == "lora") Finetune.Peft.PeftModel.GetPeftModel(model, new Finetune.Peft.LoraConfig(), new Generator(2));
        else if (variant == "head") Finetune.Peft.Freezing.FreezeBase(model);
        var adam = variant == "plain"
            ? new Finetune.Training.AdamW(model, lr: 1e-4, weightDecay: 0.01) // the library's optimizer, as the Trainer uses it
            : new Finetune.Training.AdamW(TrainerGroups(model), lr: 1e-4);
        bool phases = Environment.GetEnvironmentVariable("FINETUNE_BENCH_PHASES") == "1";
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
                if (phases)
                    Console.Error.WriteLine($"fwd {Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds:F1} bwd {Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds:F1} adam {Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds:F1}");
                Memory("after AdamW");
                if (o.CollectAfterStep) GC.Collect(); // reclaims the step's activations (pinned buffers live until a full GC)
            }
            else
            {
                model.Eval();
                using (Tensor.NoGrad()) model.Forward(inputs);
                Memory("after inference");
            }
        }
        var times = o.Time(Once);
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(ModelRunOptions.Report(times, self.PeakWorkingSet64, "finetune").ToJsonString());
        return 0;
    }

    private static Finetune.Training.ParamGroup[] TrainerGroups(Finetune.Nn.Module model)
    {
        var (decay, noDecay) = Finetune.Training.OptimizerUtils.TrainerParamGroups(model, 0.01);
        return [decay, noDecay];
    }

    /// <summary>
    /// Training steps of MiniLM's shape over the batches the epoch suite wrote (one pass, no warm-up, as an epoch
    /// runs); prints samples/s and peak RSS.
    /// </summary>
    public static int RunBatches(string path, ModelRunOptions o)
    {
        Parallelism.Threads = o.Threads;
        var model = Build(ModelShape.Get("minilm"));
        var adam = new Finetune.Training.AdamW(model, lr: 5e-5, weightDecay: 0.01);
        model.Train();
        var batches = new List<(EncoderInputs Inputs, int[] Labels)>(); // read before the clock starts
        foreach (string line in File.ReadLines(path))
        {
            var b = JsonNode.Parse(line)!;
            int seq = b["seq"]!.GetValue<int>();
            var labels = b["labels"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var ids = b["ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            var mask = new int[ids.Length];
            for (int k = 0; k < ids.Length; k++) mask[k] = ids[k] != 0 ? 1 : 0;
            batches.Add((new EncoderInputs(IntTensor.FromArray(ids, labels.Length, seq), IntTensor.FromArray(mask, labels.Length, seq), IntTensor.Zeros(labels.Length, seq)), labels));
        }
        var clock = Stopwatch.StartNew();
        int samples = 0;
        foreach (var (inputs, labels) in batches)
        {
            using var scope = TensorScope.Begin();
            model.ZeroGrad();
            model.Forward(inputs, (Labels)labels).Loss!.Backward();
            adam.Step();
            samples += labels.Length;
        }
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(new JsonObject { ["samples_per_s"] = samples / clock.Elapsed.TotalSeconds, ["peak_rss"] = (double)self.PeakWorkingSet64 }.ToJsonString());
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
}

/// <summary>What every child process of the step/infer suites is told, and how it times and reports.</summary>
internal sealed record ModelRunOptions(int Batch, int Iters, int Warmup, int Threads, int MinMs, bool CollectAfterStep)
{
    /// <summary>The options as the children's command lines carry them (the Python and TorchSharp peers read the same names).</summary>
    public string CommandLine => $"--batch {Batch} --iters {Iters} --warmup {Warmup} --threads {Threads} --min-ms {MinMs}";

    /// <summary>Warm-up calls, then timed calls until both <see cref="Iters"/> calls and <see cref="MinMs"/> have passed; sorted ms.</summary>
    public List<double> Time(Action once)
    {
        for (int k = 0; k < Warmup; k++) once();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < Iters || total.Elapsed.TotalMilliseconds < MinMs)
        {
            long t0 = Stopwatch.GetTimestamp();
            once();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        times.Sort();
        return times;
    }

    public static JsonObject Report(List<double> sortedMs, long peakRss, string version) => new()
    {
        ["ms"] = sortedMs[sortedMs.Count / 2],
        ["p90_ms"] = sortedMs[(int)(sortedMs.Count * 0.9)],
        ["peak_rss"] = (double)peakRss,
        ["torch"] = version,
    };
}
