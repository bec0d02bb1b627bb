using System.Numerics;
using System.Runtime.CompilerServices;
using Finetune.Tensors;

namespace Finetune.Nn;

public static partial class F
{
    /// <summary>
    /// Layer normalisation over the last dimension: (x − mean) / sqrt(var + eps) · weight + bias, with the biased
    /// variance (divided by the size, as torch.nn.LayerNorm does).
    /// </summary>
    public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias, float eps = 1e-12f)
    {
        int d = LastDim(x, "LayerNorm");
        if (weight.Length != d || bias.Length != d)
            throw new ArgumentException($"LayerNorm: weight/bias have {weight.Length}/{bias.Length} values, input ends in {d}.");
        int rows = d == 0 ? 0 : x.Length / d;
        var op = OpRecorder.Begin("LayerNorm", x, weight, bias);
        Tensor y = Tensor.Empty(x.Shape);
        var mean = new float[rows];
        var rstd = new float[rows];
        unsafe
        {
            nint px = (nint)x.Data, py = (nint)y.Data, pw = (nint)weight.Data, pb = (nint)bias.Data;
            Parallelism.For(rows, RowGrain(d), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                    LayerNormRow((float*)px + (long)r * d, (float*)py + (long)r * d, (float*)pw, (float*)pb, d, eps, out mean[r], out rstd[r]);
            });
        }
        if (!op.Tracks) return op.Finish(y);
        // Backward keeps x and the row statistics anyway, so y (the next dense layer's saved input) can be
        // formed again from them, bit for bit, instead of being held from forward to backward.
        op.SaveRecomputable(y, (arr, off) => LayerNormApply(x, arr, off, weight, bias, mean, rstd, rows, d));
        op.Save(x, weight);
        return op.Record(y, g =>
        {
            bool wantX = Autograd.Target(x, out var gx, out bool ax);
            LayerNormBackward(x, weight, bias, g, mean, rstd, rows, d, wantX ? gx : null, ax);
        });
    }

    /// <summary>
    /// LayerNorm(x + residual) in one op, the add-and-norm closing every transformer sublayer: each row's sum is
    /// formed and normalised while it is in cache, and the backward pass hands the one input gradient to both
    /// addends. Same values as <see cref="Add"/> followed by <see cref="LayerNorm"/>.
    /// </summary>
    public static Tensor AddLayerNorm(Tensor x, Tensor residual, Tensor weight, Tensor bias, float eps = 1e-12f)
    {
        int d = LastDim(x, "AddLayerNorm");
        if (!x.Shape.AsSpan().SequenceEqual(residual.Shape))
            throw new ArgumentException($"AddLayerNorm: x {Tensor.ShapeString(x.Shape)} and residual {Tensor.ShapeString(residual.Shape)} differ.");
        if (weight.Length != d || bias.Length != d)
            throw new ArgumentException($"AddLayerNorm: weight/bias have {weight.Length}/{bias.Length} values, input ends in {d}.");
        int rows = d == 0 ? 0 : x.Length / d;
        var op = OpRecorder.Begin("AddLayerNorm", x, residual, weight, bias);
        Tensor sum = op.Scratch(Tensor.Empty(x.Shape)), y = Tensor.Empty(x.Shape);
        var mean = new float[rows];
        var rstd = new float[rows];
        unsafe
        {
            nint px = (nint)x.Data, pr = (nint)residual.Data, ps = (nint)sum.Data, py = (nint)y.Data, pw = (nint)weight.Data, pb = (nint)bias.Data;
            Parallelism.For(rows, RowGrain(d), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    long o = (long)r * d;
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>((float*)px + o, d), new ReadOnlySpan<float>((float*)pr + o, d), new Span<float>((float*)ps + o, d));
                    LayerNormRow((float*)ps + o, (float*)py + o, (float*)pw, (float*)pb, d, eps, out mean[r], out rstd[r]);
                }
            });
        }
        if (!op.Tracks) return op.Finish(y);
        // The sum and the row statistics stay for backward, so y (the next dense layer's saved input, or the layer's
        // output read by the next layer's projections) can be formed again from them instead of being held.
        op.SaveRecomputable(y, (arr, off) => LayerNormApply(sum, arr, off, weight, bias, mean, rstd, rows, d));
        op.Save(weight); // backward reads its own copy of the sum, not x or residual
        return op.Record(y, g =>
        {
            if (ReferenceEquals(x, residual))
            {
                // LayerNorm(x + x): the input gradient counts twice.
                bool want = Autograd.Target(x, out var gs, out bool acc);
                using Tensor? twice = want ? Tensor.Empty(x.Shape) : null;
                LayerNormBackward(sum, weight, bias, g, mean, rstd, rows, d, twice, accumulateDx: false);
                if (twice == null) return;
                AddInto(gs, twice, acc);
                AddInto(gs, twice, true);
                return;
            }
            bool wantX = Autograd.TargetOver(x, g, out var gx, out bool ax); // each row reads g before writing dx
            bool wantR = Autograd.Target(residual, out var gr, out bool ar);
            // dx is written once, into a gradient it can overwrite, then copied or added into the other one.
            Tensor? dx = wantX && !ax ? gx : wantR && !ar ? gr : wantX || wantR ? Tensor.Empty(x.Shape) : null;
            LayerNormBackward(sum, weight, bias, g, mean, rstd, rows, d, dx, accumulateDx: false);
            if (dx == null) return;
            if (wantX && !ReferenceEquals(dx, gx)) AddInto(gx, dx, ax);
            if (wantR && !ReferenceEquals(dx, gr)) AddInto(gr, dx, ar);
            if (!ReferenceEquals(dx, gx) && !ReferenceEquals(dx, gr)) dx.Dispose();
        });
    }

    /// <summary>y = (x − mean)·rstd·w + b with the forward's row statistics, into (arr, off): the same bits as the forward.</summary>
    private static unsafe void LayerNormApply(Tensor x, float[] arr, int off, Tensor weight, Tensor bias, float[] mean, float[] rstd, int rows, int d)
    {
        fixed (float* pa = arr)
        {
            nint px = (nint)x.Data, py = (nint)(pa + off), pw = (nint)weight.Data, pb = (nint)bias.Data;
            Parallelism.For(rows, RowGrain(d), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                    LayerNormApplyRow((float*)px + (long)r * d, (float*)py + (long)r * d, (float*)pw, (float*)pb, d, mean[r], rstd[r]);
            });
        }
    }

    /// <summary>dst (=|+=) src, split over the workers for large tensors.</summary>
    private static void AddInto(Tensor dst, Tensor src, bool accumulate)
    {
        Elementwise(dst.Length, (i, n) =>
        {
            var dd = dst.Span.Slice(i, n);
            if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(dd, src.Span.Slice(i, n), dd);
            else src.Span.Slice(i, n).CopyTo(dd);
        });
    }

    /// <summary>Rows per parallel part so that a part has at least ~16K elements (small inputs stay on one thread).</summary>
    private static int RowGrain(int d) => Math.Max(1, 16384 / Math.Max(1, d));

    /// <summary>
    /// One row: the mean, then the variance about it (two passes, as accurate as the textbook form), then
    /// y = (x − mean)·rstd·w + b. Vector&lt;float&gt; lanes with a scalar tail; the same arithmetic for every row.
    /// </summary>
    private static unsafe void LayerNormRow(float* x, float* y, float* w, float* b, int d, float eps, out float mean, out float rstd)
    {
        int n = Vector<float>.Count, j = 0;
        var acc = Vector<float>.Zero;
        for (; j + n <= d; j += n) acc += Vector.Load(x + j);
        float sum = Vector.Sum(acc);
        for (; j < d; j++) sum += x[j];
        float mu = sum / d;
        var vmu = new Vector<float>(mu);
        acc = Vector<float>.Zero;
        for (j = 0; j + n <= d; j += n)
        {
            var c = Vector.Load(x + j) - vmu;
            acc = Vector.FusedMultiplyAdd(c, c, acc);
        }
        float sq = Vector.Sum(acc);
        for (; j < d; j++) sq = MathF.FusedMultiplyAdd(x[j] - mu, x[j] - mu, sq);
        float rs = 1f / MathF.Sqrt(sq / d + eps);
        LayerNormApplyRow(x, y, w, b, d, mu, rs);
        mean = mu;
        rstd = rs;
    }

    /// <summary>y = (x − mu)·rs·w + b for one row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void LayerNormApplyRow(float* x, float* y, float* w, float* b, int d, float mu, float rs)
    {
        int n = Vector<float>.Count, j = 0;
        var vmu = new Vector<float>(mu);
        var vrs = new Vector<float>(rs);
        for (; j + n <= d; j += n)
            Vector.FusedMultiplyAdd((Vector.Load(x + j) - vmu) * vrs, Vector.Load(w + j), Vector.Load(b + j)).Store(y + j);
        for (; j < d; j++) y[j] = MathF.FusedMultiplyAdd((x[j] - mu) * rs, w[j], b[j]);
    }

    /// <summary>Rows per block of the weight/bias gradient partial sums: fixed, so the sums do not depend on the thread count.</summary>
    private const int LayerNormGradBlock = 32;

    /// <summary>
    /// One pass over the rows computes dx and per-block partial sums of dweight (g·x̂) and dbias (g); the partials
    /// are then added in block order, which keeps the result deterministic and reads x and g only once.
    /// </summary>
    /// <remarks><paramref name="x"/> is the normalised input (for x̂); dx, when given, receives its gradient.</remarks>
    private static unsafe void LayerNormBackward(Tensor x, Tensor weight, Tensor bias, Tensor g, float[] mean, float[] rstd, int rows, int d,
        Tensor? dx, bool accumulateDx)
    {
        bool wantX = dx != null, ax = accumulateDx;
        bool wantW = Autograd.Target(weight, out var gw, out bool aw);
        bool wantB = Autograd.Target(bias, out var gb, out bool ab);
        if (!wantX && !wantW && !wantB) return;
        int blocks = (rows + LayerNormGradBlock - 1) / LayerNormGradBlock;
        // Partials for both sums are always made (a pass that skips one saves little); unwanted ones are dropped.
        // Pooled, so a step's LayerNorms leave no pinned garbage behind.
        using Tensor partW = Tensor.Empty(blocks * d), partB = Tensor.Empty(blocks * d);
        nint px = (nint)x.Data, pg = (nint)g.Data, pw = (nint)weight.Data, pgx = wantX ? (nint)dx!.Data : 0;
        {
            nint qw = (nint)partW.Data, qb = (nint)partB.Data;
            Parallelism.For(blocks, Math.Max(1, RowGrain(d) / LayerNormGradBlock), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (b0, b1) =>
            {
                for (int blk = b0; blk < b1; blk++)
                {
                    float* accW = (float*)qw + (long)blk * d, accB = (float*)qb + (long)blk * d;
                    new Span<float>(accW, d).Clear();
                    new Span<float>(accB, d).Clear();
                    int rEnd = Math.Min(rows, (blk + 1) * LayerNormGradBlock);
                    for (int r = blk * LayerNormGradBlock; r < rEnd; r++)
                        LayerNormBackwardRow((float*)px + (long)r * d, (float*)pg + (long)r * d, (float*)pw, mean[r], rstd[r], d,
                            accW, accB, pgx != 0 ? (float*)pgx + (long)r * d : null, ax);
                }
            });
        }
        if (wantW) ReduceBlocks(partW.Span, blocks, d, gw.Span, aw);
        if (wantB) ReduceBlocks(partB.Span, blocks, d, gb.Span, ab);
    }

    /// <summary>
    /// One row of the backward pass in two sweeps. First: accW += g·x̂, accB += g, and the row sums of
    /// ĝ = g·w and ĝ·x̂. Then dx (=|+=) rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), x̂ recomputed from x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void LayerNormBackwardRow(float* x, float* g, float* w, float mu, float rs, int d, float* accW, float* accB, float* dx, bool accumulate)
    {
        int n = Vector<float>.Count, j = 0;
        var vmu = new Vector<float>(mu);
        var vrs = new Vector<float>(rs);
        Vector<float> sa = Vector<float>.Zero, sb = Vector<float>.Zero;
        for (; j + n <= d; j += n)
        {
            var xh = (Vector.Load(x + j) - vmu) * vrs;
            var gv = Vector.Load(g + j);
            var gh = gv * Vector.Load(w + j);
            (Vector.Load(accB + j) + gv).Store(accB + j);
            Vector.FusedMultiplyAdd(gv, xh, Vector.Load(accW + j)).Store(accW + j);
            sa += gh;
            sb = Vector.FusedMultiplyAdd(gh, xh, sb);
        }
        float a = Vector.Sum(sa), b = Vector.Sum(sb);
        for (; j < d; j++)
        {
            float xh = (x[j] - mu) * rs, gh = g[j] * w[j];
            accB[j] += g[j];
            accW[j] = MathF.FusedMultiplyAdd(g[j], xh, accW[j]);
            a += gh;
            b = MathF.FusedMultiplyAdd(gh, xh, b);
        }
        if (dx == null) return;
        a /= d;
        b /= d;
        var va = new Vector<float>(a);
        var vnb = new Vector<float>(-b);
        for (j = 0; j + n <= d; j += n)
        {
            var xh = (Vector.Load(x + j) - vmu) * vrs;
            var t = Vector.FusedMultiplyAdd(xh, vnb, Vector.Load(g + j) * Vector.Load(w + j) - va);
            if (accumulate) Vector.FusedMultiplyAdd(t, vrs, Vector.Load(dx + j)).Store(dx + j);
            else (t * vrs).Store(dx + j);
        }
        for (; j < d; j++)
        {
            float xh = (x[j] - mu) * rs;
            float t = MathF.FusedMultiplyAdd(xh, -b, g[j] * w[j] - a);
            dx[j] = accumulate ? MathF.FusedMultiplyAdd(t, rs, dx[j]) : t * rs;
        }
    }

    /// <summary>dst (=|+=) the sum of the <paramref name="blocks"/> rows of <paramref name="parts"/>, in row order.</summary>
    private static void ReduceBlocks(Span<float> parts, int blocks, int d, Span<float> dst, bool accumulate)
    {
        var sum = parts[..d];
        for (int blk = 1; blk < blocks; blk++) System.Numerics.Tensors.TensorPrimitives.Add(sum, parts.Slice(blk * d, d), sum);
        if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(dst, sum, dst);
        else sum.CopyTo(dst);
    }
}
