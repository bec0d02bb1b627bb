using System.Numerics;
using System.Runtime.CompilerServices;

namespace Finetune.Tensors.Kernels;

/// <summary>
/// Layer normalisation over rows of <c>d</c> floats, forward and backward, parallel over rows. Spans in, spans out:
/// the caller owns every buffer (and keeps the row statistics the forward writes for the backward).
/// </summary>
internal static class LayerNormKernels
{
    /// <summary>y = (x − mean)·rstd·w + b per row; writes each row's mean and rstd.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> w, ReadOnlySpan<float> b, int rows, int d, float eps,
        float[] mean, float[] rstd)
    {
        fixed (float* fx = x, fy = y, fw = w, fb = b)
        {
            nint px = (nint)fx, py = (nint)fy, pw = (nint)fw, pb = (nint)fb;
            Parallelism.For(rows, RowGrain(d), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                    Row((float*)px + (long)r * d, (float*)py + (long)r * d, (float*)pw, (float*)pb, d, eps, out mean[r], out rstd[r]);
            });
        }
    }

    /// <summary>sum = x + residual, then <see cref="Forward"/> of the sum, each row while it is in cache.</summary>
    public static unsafe void AddForward(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, Span<float> sum, Span<float> y, ReadOnlySpan<float> w,
        ReadOnlySpan<float> b, int rows, int d, float eps, float[] mean, float[] rstd)
    {
        fixed (float* fx = x, fr = residual, fs = sum, fy = y, fw = w, fb = b)
        {
            nint px = (nint)fx, pr = (nint)fr, ps = (nint)fs, py = (nint)fy, pw = (nint)fw, pb = (nint)fb;
            Parallelism.For(rows, RowGrain(d), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    long o = (long)r * d;
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>((float*)px + o, d), new ReadOnlySpan<float>((float*)pr + o, d), new Span<float>((float*)ps + o, d));
                    Row((float*)ps + o, (float*)py + o, (float*)pw, (float*)pb, d, eps, out mean[r], out rstd[r]);
                }
            });
        }
    }

    /// <summary>y = (x − mean)·rstd·w + b with the forward's row statistics: the same bits as the forward.</summary>
    public static unsafe void Apply(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> w, ReadOnlySpan<float> b, float[] mean, float[] rstd, int rows, int d)
    {
        fixed (float* fx = x, fy = y, fw = w, fb = b)
        {
            nint px = (nint)fx, py = (nint)fy, pw = (nint)fw, pb = (nint)fb;
            Parallelism.For(rows, RowGrain(d), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                    ApplyRow((float*)px + (long)r * d, (float*)py + (long)r * d, (float*)pw, (float*)pb, d, mean[r], rstd[r]);
            });
        }
    }

    /// <summary>
    /// One pass over the rows computes dx (when <paramref name="dx"/> is not empty; =|+= by
    /// <paramref name="accumulateDx"/>) and, per block of <see cref="GradBlock"/> rows, partial sums of dweight
    /// (g·x̂) into <paramref name="partW"/> and dbias (g) into <paramref name="partB"/> ([blocks, d] each), for
    /// <see cref="ReduceBlocks"/> to add in block order: deterministic, and x and g are read only once.
    /// </summary>
    /// <remarks><paramref name="x"/> is the normalised input (for x̂).</remarks>
    public static unsafe void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ReadOnlySpan<float> w, float[] mean, float[] rstd, int rows, int d,
        Span<float> partW, Span<float> partB, Span<float> dx, bool accumulateDx)
    {
        int blocks = (rows + GradBlock - 1) / GradBlock;
        bool ax = accumulateDx;
        fixed (float* fx = x, fg = g, fw = w, fdx = dx, fpw = partW, fpb = partB)
        {
            nint px = (nint)fx, pg = (nint)fg, pw = (nint)fw, pgx = dx.IsEmpty ? 0 : (nint)fdx, qw = (nint)fpw, qb = (nint)fpb;
            Parallelism.For(blocks, Math.Max(1, RowGrain(d) / GradBlock), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (b0, b1) =>
            {
                for (int blk = b0; blk < b1; blk++)
                {
                    float* accW = (float*)qw + (long)blk * d, accB = (float*)qb + (long)blk * d;
                    new Span<float>(accW, d).Clear();
                    new Span<float>(accB, d).Clear();
                    int rEnd = Math.Min(rows, (blk + 1) * GradBlock);
                    for (int r = blk * GradBlock; r < rEnd; r++)
                        BackwardRow((float*)px + (long)r * d, (float*)pg + (long)r * d, (float*)pw, mean[r], rstd[r], d,
                            accW, accB, pgx != 0 ? (float*)pgx + (long)r * d : null, ax);
                }
            });
        }
    }

    /// <summary>Rows per parallel part so that a part has at least ~16K elements (small inputs stay on one thread).</summary>
    public static int RowGrain(int d) => Math.Max(1, 16384 / Math.Max(1, d));

    /// <summary>
    /// One row: the mean, then the variance about it (two passes, as accurate as the textbook form), then
    /// y = (x − mean)·rstd·w + b. Vector&lt;float&gt; lanes with a scalar tail; the same arithmetic for every row.
    /// </summary>
    private static unsafe void Row(float* x, float* y, float* w, float* b, int d, float eps, out float mean, out float rstd)
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
        ApplyRow(x, y, w, b, d, mu, rs);
        mean = mu;
        rstd = rs;
    }

    /// <summary>y = (x − mu)·rs·w + b for one row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void ApplyRow(float* x, float* y, float* w, float* b, int d, float mu, float rs)
    {
        int n = Vector<float>.Count, j = 0;
        var vmu = new Vector<float>(mu);
        var vrs = new Vector<float>(rs);
        for (; j + n <= d; j += n)
            Vector.FusedMultiplyAdd((Vector.Load(x + j) - vmu) * vrs, Vector.Load(w + j), Vector.Load(b + j)).Store(y + j);
        for (; j < d; j++) y[j] = MathF.FusedMultiplyAdd((x[j] - mu) * rs, w[j], b[j]);
    }

    /// <summary>Rows per block of the weight/bias gradient partial sums: fixed, so the sums do not depend on the thread count.</summary>
    public const int GradBlock = 32;

    /// <summary>
    /// One row of the backward pass in two sweeps. First: accW += g·x̂, accB += g, and the row sums of
    /// ĝ = g·w and ĝ·x̂. Then dx (=|+=) rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), x̂ recomputed from x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void BackwardRow(float* x, float* g, float* w, float mu, float rs, int d, float* accW, float* accB, float* dx, bool accumulate)
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
    public static void ReduceBlocks(Span<float> parts, int blocks, int d, Span<float> dst, bool accumulate)
    {
        var sum = parts[..d];
        for (int blk = 1; blk < blocks; blk++) System.Numerics.Tensors.TensorPrimitives.Add(sum, parts.Slice(blk * d, d), sum);
        if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(dst, sum, dst);
        else sum.CopyTo(dst);
    }
}
