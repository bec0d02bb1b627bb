using System.Diagnostics;
using System.Globalization;
using Finetune.Models.Bert;
using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Bench;

/// <summary>
/// `infer-ops`: where one inference batch's time goes. In one process it alternates the model's own forward pass
/// with a copy of BERT's forward written op by op from the same F.* calls, timing each op, so the breakdown and the
/// whole are measured under the same load; medians over the iterations. The GEMM rows also show GFLOP/s, and one
/// extra row times the query/key/value product as a bare GEMM on weights stacked beforehand (what
/// <see cref="F.LinearStacked"/> costs beyond its product).
/// </summary>
public sealed class InferOpsSuite : IBenchSuite
{
    public string Name => "infer-ops";

    public string Description => "per-op time breakdown of one BERT inference batch; options: --models minilm,base --seq 32 --batch 1 --threads 2 --iters 40 --warmup 10";

    public int Run(string[] args, BenchResults results)
    {
        string[] models = Arg(args, "--models", "minilm,base").Split(',');
        int seq = int.Parse(Arg(args, "--seq", "32"), CultureInfo.InvariantCulture);
        int batch = int.Parse(Arg(args, "--batch", "1"), CultureInfo.InvariantCulture);
        int iters = int.Parse(Arg(args, "--iters", "40"), CultureInfo.InvariantCulture);
        int warmup = int.Parse(Arg(args, "--warmup", "10"), CultureInfo.InvariantCulture);
        Parallelism.Threads = int.Parse(Arg(args, "--threads", "2"), CultureInfo.InvariantCulture);
        foreach (string m in models)
        {
            var shape = ModelShape.Get(m);
            var model = ModelChild.Build(shape);
            model.Eval();
            var (inputs, _) = ModelChild.RandomBatch(ModelShape.Vocab, batch, seq, new Generator(1));
            var laps = new Laps();
            var full = new List<double>();
            var stacked = StackQkv(model.Bert);
            using (Tensor.NoGrad())
                for (int it = 0; it < warmup + iters; it++)
                {
                    laps.Recording = it >= warmup;
                    long t0 = Stopwatch.GetTimestamp();
                    using (TensorScope.Begin()) model.Forward(inputs);
                    if (laps.Recording) full.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    using (TensorScope.Begin()) OpByOp(model, inputs, laps, stacked);
                }
            Print(shape, batch, seq, laps, full);
        }
        return 0;
    }

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>Each layer's query/key/value weights and biases stacked once, for the bare-GEMM comparison row.</summary>
    private static (Tensor W, Tensor B)[] StackQkv(BertModel bert)
    {
        var result = new (Tensor, Tensor)[bert.Encoder.Layer.Count];
        for (int l = 0; l < result.Length; l++)
        {
            var s = bert.Encoder.Layer[l].Attention.Self;
            result[l] = (Concat(s.Query.Weight, s.Key.Weight, s.Value.Weight), Concat(s.Query.Bias!, s.Key.Bias!, s.Value.Bias!));
        }
        return result;
    }

    private static Tensor Concat(Tensor a, Tensor b, Tensor c)
    {
        var all = new float[a.Length + b.Length + c.Length];
        a.Span.CopyTo(all);
        b.Span.CopyTo(all.AsSpan(a.Length));
        c.Span.CopyTo(all.AsSpan(a.Length + b.Length));
        return a.Rank == 1 ? Tensor.FromArray(all, all.Length) : Tensor.FromArray(all, a.Shape[0] * 3, a.Shape[1]);
    }

    /// <summary>BERT's inference forward (BertForSequenceClassification in eval mode) as the library runs it, op by op.</summary>
    private static void OpByOp(BertForSequenceClassification model, Finetune.Models.EncoderInputs inputs, Laps laps, (Tensor W, Tensor B)[] stacked)
    {
        var bert = model.Bert;
        int tokens = inputs.InputIds.Length, c = bert.Config.HiddenSize, inter = bert.Config.IntermediateSize;
        laps.Begin();
        Tensor h = bert.Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, BertEmbeddings.ArangePositions(inputs.SeqLen, bert.Config.MaxPositionEmbeddings));
        laps.Lap("embeddings");
        for (int l = 0; l < bert.Encoder.Layer.Count; l++)
        {
            var layer = bert.Encoder.Layer[l];
            var self = layer.Attention.Self;
            Tensor qkv = F.LinearStacked(h, [self.Query.Weight, self.Key.Weight, self.Value.Weight], [self.Query.Bias!, self.Key.Bias!, self.Value.Bias!]);
            laps.Lap("qkv LinearStacked", 2.0 * tokens * 3 * c * c);
            Tensor ctx = F.MultiHeadAttentionPacked(qkv, self.Heads, inputs.AttentionMask);
            laps.Lap("attention");
            var ao = layer.Attention.Output;
            Tensor o = F.Linear(ctx, ao.Dense.Weight, ao.Dense.Bias);
            laps.Lap("attn out Linear", 2.0 * tokens * c * c);
            Tensor a = F.AddLayerNorm(o, h, ao.LayerNorm.Weight, ao.LayerNorm.Bias, ao.LayerNorm.Eps);
            laps.Lap("add+LayerNorm");
            Tensor i = F.Linear(a, layer.Intermediate.Dense.Weight, layer.Intermediate.Dense.Bias);
            laps.Lap("ffn in Linear", 2.0 * tokens * c * inter);
            Tensor g = F.Gelu(i);
            laps.Lap("gelu");
            var fo = layer.Output;
            Tensor f = F.Linear(g, fo.Dense.Weight, fo.Dense.Bias);
            laps.Lap("ffn out Linear", 2.0 * tokens * c * inter);
            h = F.AddLayerNorm(f, a, fo.LayerNorm.Weight, fo.LayerNorm.Bias, fo.LayerNorm.Eps);
            laps.Lap("add+LayerNorm");
            // Not part of the forward: the same product on weights stacked beforehand.
            using (Tensor y = Tensor.Zeros(qkv.Shape))
            {
                laps.Resume();
                Gemm.Multiply(GemmForm.NT, tokens, 3 * c, c, a.Span, stacked[l].W.Span, y.Span, false, stacked[l].B.Span);
                laps.Lap("(extra) qkv bare GEMM, prestacked", 2.0 * tokens * 3 * c * c, extra: true);
            }
            laps.Resume();
        }
        Tensor pooled = F.Tanh(F.Linear(F.SelectFirstToken(h), bert.Pooler!.Dense.Weight, bert.Pooler.Dense.Bias));
        F.Linear(pooled, model.Classifier.Weight, model.Classifier.Bias);
        laps.Lap("pooler+classifier");
    }

    private static void Print(ModelShape shape, int batch, int seq, Laps laps, List<double> full)
    {
        full.Sort();
        Console.WriteLine($"## {shape.Name}, batch {batch}, seq {seq}, {Parallelism.Threads} threads: full forward median {full[full.Count / 2]:F2} ms (p10 {full[full.Count / 10]:F2}), op-by-op sum {laps.Sum():F2} ms");
        Console.WriteLine("| op | ms per forward (median) | share | GFLOP/s |");
        Console.WriteLine("|---|---:|---:|---:|");
        double sum = laps.Sum();
        foreach (var (name, ms, gflops, extra) in laps.Rows())
            Console.WriteLine($"| {name} | {ms:F3} | {(extra ? "" : (ms / sum).ToString("P0", CultureInfo.InvariantCulture))} | {(gflops > 0 ? gflops.ToString("F1", CultureInfo.InvariantCulture) : "")} |");
        Console.WriteLine();
    }

    /// <summary>Per-op time within one forward (summed over layers), a list of per-forward totals per op.</summary>
    private sealed class Laps
    {
        private readonly Dictionary<string, (List<double> Ms, double Flops, bool Extra)> _ops = new();
        private readonly List<string> _order = new();
        private readonly Dictionary<string, double> _current = new();
        private readonly Dictionary<string, double> _flops = new();
        private long _t;

        public bool Recording { get; set; }

        /// <summary>Starts one forward's laps.</summary>
        public void Begin()
        {
            _current.Clear();
            _flops.Clear();
            Resume();
        }

        /// <summary>Restarts the clock after something not to be counted under the next op.</summary>
        public void Resume() => _t = Stopwatch.GetTimestamp();

        public void Lap(string op, double flops = 0, bool extra = false)
        {
            long now = Stopwatch.GetTimestamp();
            _current[op] = _current.GetValueOrDefault(op) + Stopwatch.GetElapsedTime(_t, now).TotalMilliseconds;
            _flops[op] = _flops.GetValueOrDefault(op) + flops;
            if (!_ops.ContainsKey(op))
            {
                _ops[op] = (new List<double>(), 0, extra);
                _order.Add(op);
            }
            _t = Stopwatch.GetTimestamp();
            if (op == "pooler+classifier") Flush();
        }

        private void Flush()
        {
            foreach (var (op, ms) in _current)
            {
                var e = _ops[op];
                if (Recording) e.Ms.Add(ms);
                _ops[op] = (e.Ms, _flops[op], e.Extra);
            }
            _current.Clear();
            _flops.Clear();
        }

        public double Sum()
        {
            double s = 0;
            foreach (var op in _order)
                if (!_ops[op].Extra) s += Median(_ops[op].Ms);
            return s;
        }

        public IEnumerable<(string Name, double Ms, double Gflops, bool Extra)> Rows()
        {
            foreach (var op in _order)
            {
                var (ms, flops, extra) = _ops[op];
                double med = Median(ms);
                yield return (op, med, flops > 0 && med > 0 ? flops / (med * 1e6) : 0, extra);
            }
        }

        private static double Median(List<double> xs)
        {
            if (xs.Count == 0) return 0;
            var s = xs.ToArray();
            Array.Sort(s);
            return s[s.Length / 2];
        }
    }
}
