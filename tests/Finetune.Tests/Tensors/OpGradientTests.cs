using Finetune.Nn;
using Finetune.Tensors;
using R = Finetune.Tests.Tensors.Reference;

namespace Finetune.Tests.Tensors;

/// <summary>Every functional op: forward against a double reference, backward against finite differences.</summary>
public class OpGradientTests
{
    private static readonly Dictionary<string, OpCase> Cases = Build().ToDictionary(c => c.Name);

    public static TheoryData<string> Names()
    {
        var d = new TheoryData<string>();
        foreach (var c in Build()) d.Add(c.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ForwardMatchesReferenceAndBackwardMatchesFiniteDifferences(string name) => GradCheck.Run(Cases[name]);

    /// <summary>
    /// The op applied twice and summed: its second backward adds into gradients the first one wrote, which
    /// exercises every op's accumulate path (GEMM accumulation, scatter-add onto existing rows...).
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void GradientsAccumulatedIntoExistingOnesAreRight(string name)
    {
        var c = Cases[name];
        GradCheck.Run(c with
        {
            Name = c.Name + " (twice)",
            Op = x => F.Add(c.Op(x), c.Op(x)),
            Reference = d => c.Reference(d).Select(v => 2 * v).ToArray(),
        });
    }

    private static IEnumerable<OpCase> Build()
    {
        foreach (var (n, inF, outF) in new[] { (1, 7, 5), (6, 17, 13), (3, 33, 2) })
        {
            yield return new OpCase($"Linear {n}x{inF}->{outF}", [[n, inF], [outF, inF], [outF]],
                x => F.Linear(x[0], x[1], x[2]), d => R.Linear(d[0], d[1], d[2], inF, outF));
            yield return new OpCase($"Linear nobias 3d {n}x{inF}->{outF}", [[1, n, inF], [outF, inF]],
                x => F.Linear(x[0], x[1]), d => R.Linear(d[0], d[1], null, inF, outF));
        }

        foreach (var (n, inF, outs, bias) in new[] { (4, 6, new[] { 5, 3, 7 }, true), (1, 9, new[] { 2 }, true), (3, 17, new[] { 4, 4 }, false) })
        {
            int total = outs.Sum();
            int[][] shapes = [[n, inF], .. outs.Select(o => new[] { o, inF }), .. bias ? outs.Select(o => new[] { o }) : []];
            yield return new OpCase($"LinearStacked {n}x{inF}->[{string.Join(",", outs)}] bias={bias}", shapes,
                x => F.LinearStacked(x[0], x[1..(1 + outs.Length)], bias ? x[(1 + outs.Length)..] : null),
                d =>
                {
                    // Each weight's Linear, the outputs side by side.
                    var y = new double[n * total];
                    for (int j = 0, col = 0; j < outs.Length; col += outs[j], j++)
                    {
                        var part = R.Linear(d[0], d[1 + j], bias ? d[1 + outs.Length + j] : null, inF, outs[j]);
                        for (int i = 0; i < n; i++)
                            for (int o = 0; o < outs[j]; o++) y[i * total + col + o] = part[i * outs[j] + o];
                    }
                    return y;
                });
        }

        int[] ids = [0, 3, 3, 10, 0, 7, 1, 3];
        yield return EmbeddingCase("Embedding", ids, null);
        yield return EmbeddingCase("Embedding padding_idx", ids, 0);
        yield return EmbeddingCase("Embedding negative padding_idx", ids, -1);
        // Big enough that the gather and the gradient scatter split over threads (table rows 0..699, repeats).
        int[] manyIds = Enumerable.Range(0, 1400).Select(i => (i * 37 + i / 3) % 700).ToArray();
        yield return EmbeddingCase("Embedding parallel 1400 ids into 700x51 padding_idx", manyIds, 5, 700, 51);

        // [3, 200, 37]: rows split over threads in both passes, 37 is no multiple of the vector width.
        foreach (var (shape, eps) in new[] { (new[] { 1, 1, 9 }, 1e-12f), (new[] { 2, 3, 33 }, 1e-5f), (new[] { 4, 1 }, 1e-5f), (new[] { 3, 200, 37 }, 1e-12f), (new[] { 2, 64 }, 1e-12f) })
        {
            int d = shape[^1];
            yield return new OpCase($"LayerNorm [{string.Join(",", shape)}] eps {eps}", [shape, [d], [d]],
                x => F.LayerNorm(x[0], x[1], x[2], eps), r => R.LayerNorm(r[0], r[1], r[2], d, eps));
        }

        foreach (var shape in new[] { new[] { 1, 1, 9 }, new[] { 2, 3, 33 }, new[] { 3, 200, 37 } })
        {
            int d = shape[^1];
            string s = string.Join(",", shape);
            yield return new OpCase($"AddLayerNorm [{s}]", [shape, shape, [d], [d]],
                x => F.AddLayerNorm(x[0], x[1], x[2], x[3], 1e-5f), r => R.LayerNorm(r[0].Zip(r[1], (a, b) => a + b).ToArray(), r[2], r[3], d, 1e-5f));
            yield return new OpCase($"AddLayerNorm self [{s}]", [shape, [d], [d]],
                x => F.AddLayerNorm(x[0], x[0], x[1], x[2], 1e-5f), r => R.LayerNorm(r[0].Select(a => 2 * a).ToArray(), r[1], r[2], d, 1e-5f));
            // The residual also reaches the output directly, so its gradient is added to an existing one.
            yield return new OpCase($"AddLayerNorm accumulating residual [{s}]", [shape, shape, [d], [d]],
                x => F.Add(F.AddLayerNorm(x[0], x[1], x[2], x[3], 1e-5f), x[1]),
                r => R.LayerNorm(r[0].Zip(r[1], (a, b) => a + b).ToArray(), r[2], r[3], d, 1e-5f).Select((v, i) => v + r[1][i]).ToArray());
        }

        foreach (var shape in new[] { new[] { 1, 1, 1 }, new[] { 3, 5, 7 }, new[] { 3, 11003 } })
        {
            string s = string.Join(",", shape);
            yield return new OpCase($"Gelu [{s}]", [shape], x => F.Gelu(x[0]), d => R.Map(d[0], R.Gelu)) { InputScale = 2.5f };
            yield return new OpCase($"GeluNew [{s}]", [shape], x => F.GeluNew(x[0]), d => R.Map(d[0], R.GeluNew)) { InputScale = 2.5f };
            yield return new OpCase($"Relu [{s}]", [shape], x => F.Relu(x[0]), d => R.Map(d[0], v => Math.Max(v, 0)));
            yield return new OpCase($"Tanh [{s}]", [shape], x => F.Tanh(x[0]), d => R.Map(d[0], Math.Tanh)) { InputScale = 2f };
        }

        foreach (var shape in new[] { new[] { 4, 37 }, new[] { 2, 70001 } })
        {
            int len = shape[0] * shape[1];
            yield return new OpCase($"Dropout p=0.3 [{shape[0]},{shape[1]}]", [shape],
                x => F.Dropout(x[0], 0.3f, training: true, new Generator(7)),
                d =>
                {
                    var m = F.DropoutMask(len, 0.3f, new Generator(7)).ToArray();
                    return d[0].Select((v, i) => v * m[i]).ToArray();
                });
        }

        yield return new OpCase("Add same shape", [[2, 3, 5], [2, 3, 5]], x => F.Add(x[0], x[1]), d => d[0].Zip(d[1], (a, b) => a + b).ToArray());
        yield return new OpCase("Add broadcast suffix", [[2, 3, 5], [3, 5]], x => F.Add(x[0], x[1]), d => d[0].Select((a, i) => a + d[1][i % 15]).ToArray());
        yield return new OpCase("Add broadcast first operand", [[5], [3, 5]], x => F.Add(x[0], x[1]), d => d[1].Select((a, i) => a + d[0][i % 5]).ToArray());
        yield return new OpCase("Add broadcast suffix parallel", [[80, 9, 50], [9, 50]], x => F.Add(x[0], x[1]), d => d[0].Select((a, i) => a + d[1][i % 450]).ToArray());
        yield return new OpCase("Add same shape parallel", [[7, 5003], [7, 5003]], x => F.Add(x[0], x[1]), d => d[0].Zip(d[1], (a, b) => a + b).ToArray());
        yield return new OpCase("Add self", [[4, 3]], x => F.Add(x[0], x[0]), d => d[0].Select(a => 2 * a).ToArray());
        yield return new OpCase("Mul same shape", [[3, 7], [3, 7]], x => F.Mul(x[0], x[1]), d => d[0].Zip(d[1], (a, b) => a * b).ToArray());
        yield return new OpCase("Mul broadcast suffix", [[2, 3, 5], [5]], x => F.Mul(x[0], x[1]), d => d[0].Select((a, i) => a * d[1][i % 5]).ToArray());
        yield return new OpCase("Mul self", [[9]], x => F.Mul(x[0], x[0]), d => d[0].Select(a => a * a).ToArray());
        yield return new OpCase("Scale", [[2, 9]], x => F.Scale(x[0], -1.7f), d => d[0].Select(a => a * (double)-1.7f).ToArray());
        yield return new OpCase("Sum", [[3, 4]], x => F.Sum(x[0]), d => [d[0].Sum()]);
        yield return new OpCase("Mean", [[3, 5]], x => F.Mean(x[0]), d => [d[0].Sum() / 15]);
        yield return new OpCase("Reshape", [[2, 6]], x => F.Mul(F.Reshape(x[0], 3, -1), F.Reshape(x[0], 3, 4)), d => d[0].Select(a => a * a).ToArray());

        foreach (var shape in new[] { new[] { 1, 1 }, new[] { 3, 7 }, new[] { 2, 3, 17 } })
        {
            yield return new OpCase($"Softmax [{string.Join(",", shape)}]", [shape], x => F.Softmax(x[0]), d => R.Softmax(d[0], shape[^1])) { InputScale = 3f };
            // x also reaches the output directly, so the softmax gradient is added to an existing one.
            yield return new OpCase($"Softmax accumulating [{string.Join(",", shape)}]", [shape], x => F.Add(F.Softmax(x[0]), x[0]),
                d => R.Softmax(d[0], shape[^1]).Select((v, i) => v + d[0][i]).ToArray())
            { InputScale = 3f };
        }

        yield return new OpCase("SelectFirstToken [3,4,5]", [[3, 4, 5]], x => F.SelectFirstToken(x[0]),
            d => Enumerable.Range(0, 15).Select(i => d[0][(i / 5) * 20 + i % 5]).ToArray());
        yield return new OpCase("SelectFirstToken [1,1,7]", [[1, 1, 7]], x => F.SelectFirstToken(x[0]), d => d[0]);
        yield return new OpCase("SplitHeads [2,3,12] 4 heads", [[2, 3, 12]], x => F.SplitHeads(x[0], 4),
            d => Permute(d[0], 2, 3, 4, 3));
        yield return new OpCase("MergeHeads [2,4,3,3]", [[2, 4, 3, 3]], x => F.MergeHeads(x[0]),
            d => Permute(d[0], 2, 4, 3, 3));

        foreach (var c in AttentionCases()) yield return c;
        foreach (var c in MultiHeadCases()) yield return c;
        foreach (var c in LossCases()) yield return c;
    }

    /// <summary>[A, P, Q, D] → [A, Q, P, D].</summary>
    private static double[] Permute(double[] x, int a, int p, int q, int d)
    {
        var y = new double[x.Length];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < p; j++)
                for (int l = 0; l < q; l++)
                    for (int e = 0; e < d; e++)
                        y[((i * q + l) * p + j) * d + e] = x[((i * p + j) * q + l) * d + e];
        return y;
    }

    private static OpCase EmbeddingCase(string name, int[] ids, int? pad, int num = 11, int dim = 6)
    {
        int padRow = pad is int p ? (p < 0 ? p + num : p) : -1;
        double[]? frozen = null;
        return new OpCase(name, [[num, dim]],
            x => F.Embedding(IntTensor.FromArray(ids, ids.Length / 4, 4), x[0], pad),
            d =>
            {
                // padding_idx: the row is used in the forward pass but is a constant for the gradient.
                frozen ??= d[0][..];
                var y = new double[ids.Length * dim];
                for (int i = 0; i < ids.Length; i++)
                    for (int j = 0; j < dim; j++) y[i * dim + j] = (ids[i] == padRow ? frozen : d[0])[ids[i] * dim + j];
                return y;
            });
    }

    private static IEnumerable<OpCase> AttentionCases()
    {
        foreach (var (b, h, tq, tk, d, dv, masked, p) in new[]
        {
            (1, 1, 1, 1, 5, 5, false, 0f),
            (2, 3, 7, 7, 5, 5, true, 0f),
            (2, 2, 3, 6, 5, 4, true, 0f),
            (2, 3, 7, 7, 9, 9, true, 0.25f),
            (1, 2, 17, 17, 16, 16, false, 0f),
        })
        {
            int[]? mask = masked ? Enumerable.Range(0, b * tk).Select(i => i % tk == 0 || (i * 7) % 5 != 0 ? 1 : 0).ToArray() : null;
            float[]? drop = p > 0 ? F.DropoutMask(b * h * tq * tk, p, new Generator(3)).ToArray() : null;
            double scale = 1 / Math.Sqrt(d);
            yield return new OpCase($"Attention b{b} h{h} tq{tq} tk{tk} d{d} dv{dv} mask={masked} p={p}",
                [[b, h, tq, d], [b, h, tk, d], [b, h, tk, dv]],
                x => F.ScaledDotProductAttention(x[0], x[1], x[2], mask != null ? IntTensor.FromArray(mask, b, tk) : null,
                    p, training: p > 0, new Generator(3)),
                r => R.Attention(r[0], r[1], r[2], b, h, tq, tk, d, dv, mask, drop, (float)scale))
            { InputScale = 1.5f };
        }
    }

    private static IEnumerable<OpCase> MultiHeadCases()
    {
        foreach (var (b, heads, t, d, masked, p) in new[] { (1, 1, 1, 3, false, 0f), (2, 3, 5, 4, true, 0f), (2, 2, 6, 3, true, 0.2f) })
        {
            int c = heads * d;
            int[]? mask = masked ? Enumerable.Range(0, b * t).Select(i => i % t < t - 1 - i / t ? 1 : 0).ToArray() : null;
            float[]? drop = p > 0 ? F.DropoutMask(b * heads * t * t, p, new Generator(9)).ToArray() : null;
            double[] Ref(double[][] r, bool addQ)
            {
                var y = Permute(R.Attention(Permute(r[0], b, t, heads, d), Permute(r[1], b, t, heads, d), Permute(r[2], b, t, heads, d),
                    b, heads, t, t, d, d, mask, drop, (float)(1 / Math.Sqrt(d))), b, heads, t, d);
                return addQ ? y.Select((v, i) => v + r[0][i]).ToArray() : y;
            }
            IntTensor? Mask() => mask != null ? IntTensor.FromArray(mask, b, t) : null;
            yield return new OpCase($"MultiHeadAttention b{b} h{heads} t{t} d{d} mask={masked} p={p}", [[b, t, c], [b, t, c], [b, t, c]],
                x => F.MultiHeadAttention(x[0], x[1], x[2], heads, Mask(), p, p > 0, new Generator(9)), r => Ref(r, false))
            { InputScale = 1.5f };
            // q also reaches the loss directly, so its attention gradient is added to an existing one.
            yield return new OpCase($"MultiHeadAttention accumulating b{b} h{heads} t{t} d{d} mask={masked} p={p}", [[b, t, c], [b, t, c], [b, t, c]],
                x => F.Add(F.MultiHeadAttention(x[0], x[1], x[2], heads, Mask(), p, p > 0, new Generator(9)), x[0]), r => Ref(r, true))
            { InputScale = 1.5f };
            yield return new OpCase($"MultiHeadAttention self (q=k=v) b{b} h{heads} t{t} d{d} mask={masked} p={p}", [[b, t, c]],
                x => F.MultiHeadAttention(x[0], x[0], x[0], heads, Mask(), p, p > 0, new Generator(9)), r => Ref([r[0], r[0], r[0]], false))
            { InputScale = 1.5f };
            // One packed [b, t, 3c] input: q, k and v are its column blocks.
            double[][] Unpack(double[] qkv) => [.. Enumerable.Range(0, 3).Select(j => Enumerable.Range(0, b * t * c).Select(i => qkv[i / c * 3 * c + j * c + i % c]).ToArray())];
            yield return new OpCase($"MultiHeadAttentionPacked b{b} h{heads} t{t} d{d} mask={masked} p={p}", [[b, t, 3 * c]],
                x => F.MultiHeadAttentionPacked(x[0], heads, Mask(), p, p > 0, new Generator(9)), r => Ref(Unpack(r[0]), false))
            { InputScale = 1.5f };
        }
    }

    private static IEnumerable<OpCase> LossCases()
    {
        int[] labels = [2, 0, 1, 1, 2];
        int[] withIgnored = [2, -100, 1, -100, 0];
        foreach (var (name, y, eps, weighted) in new[]
        {
            ("plain", labels, 0f, false), ("ignore_index", withIgnored, 0f, false), ("label smoothing", labels, 0.1f, false),
            ("weights", labels, 0f, true), ("weights+smoothing+ignore", withIgnored, 0.2f, true),
        })
        {
            yield return new OpCase($"CrossEntropy {name}", weighted ? [[5, 3], [3]] : [[5, 3]],
                x => F.CrossEntropy(x[0], IntTensor.FromArray(y), -100, eps, weighted ? x[1] : null),
                d => [R.CrossEntropy(d[0], y, 3, -100, eps, weighted ? d[1] : null)])
            {
                Grad = weighted ? [true, false] : null,
                InputScale = 2f,
                Prepare = (i, v) => { if (i == 1) for (int j = 0; j < v.Length; j++) v[j] = 0.5f + j * 0.7f; },
            };
        }
        int[] seqLabels = [1, 3, -100, 0, 2, 3];
        yield return new OpCase("CrossEntropy rank-3 logits", [[2, 3, 4]],
            x => F.CrossEntropy(x[0], IntTensor.FromArray(seqLabels, 2, 3)), d => [R.CrossEntropy(d[0], seqLabels, 4, -100, 0, null)]);
        yield return new OpCase("Mse", [[3, 2], [6]], x => F.Mse(x[0], x[1]), d => [d[0].Zip(d[1], (a, b) => (a - b) * (a - b)).Average()]);
        yield return new OpCase("Mse [1]", [[1], [1]], x => F.Mse(x[0], x[1]), d => [(d[0][0] - d[1][0]) * (d[0][0] - d[1][0])]);
        yield return new OpCase("BceWithLogits", [[4, 3], [4, 3]], x => F.BceWithLogits(x[0], x[1]), d => [R.Bce(d[0], d[1])])
        {
            InputScale = 3f,
            Prepare = (i, v) => { if (i == 1) for (int j = 0; j < v.Length; j++) v[j] = (j % 3) / 2f; },
        };
    }
}
