using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
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
        Tensor y = Tensor.Empty(x.Shape);
        var mean = new float[rows];
        var rstd = new float[rows];
        unsafe
        {
            nint px = (nint)x.Data, py = (nint)y.Data, pw = (nint)weight.Data, pb = (nint)bias.Data;
            Parallelism.For(rows, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    var xr = new ReadOnlySpan<float>((float*)px + (long)r * d, d);
                    var yr = new Span<float>((float*)py + (long)r * d, d);
                    float mu = TensorPrimitives.Sum(xr) / d;
                    TensorPrimitives.Subtract(xr, mu, yr);
                    float var = TensorPrimitives.SumOfSquares(yr) / d;
                    float rs = 1f / MathF.Sqrt(var + eps);
                    mean[r] = mu;
                    rstd[r] = rs;
                    TensorPrimitives.Multiply(yr, rs, yr);
                    TensorPrimitives.FusedMultiplyAdd(yr, new ReadOnlySpan<float>((float*)pw, d), new ReadOnlySpan<float>((float*)pb, d), yr);
                }
            });
            GC.KeepAlive(x);
            GC.KeepAlive(y);
        }
        if (Autograd.Tracks(x, weight, bias))
            Autograd.Record(y, "LayerNorm", [x, weight, bias], g => LayerNormBackward(x, weight, bias, g, mean, rstd, rows, d), saved: [x, weight]);
        return y;
    }

    /// <summary>Rows per block of the weight/bias gradient partial sums: fixed, so the sums do not depend on the thread count.</summary>
    private const int LayerNormGradBlock = 32;

    /// <summary>
    /// One pass over the rows computes dx and per-block partial sums of dweight (g·x̂) and dbias (g); the partials
    /// are then added in block order, which keeps the result deterministic and reads x and g only once.
    /// </summary>
    private static unsafe void LayerNormBackward(Tensor x, Tensor weight, Tensor bias, Tensor g, float[] mean, float[] rstd, int rows, int d)
    {
        bool wantX = Autograd.Target(x, out var gx, out bool ax);
        bool wantW = Autograd.Target(weight, out var gw, out bool aw);
        bool wantB = Autograd.Target(bias, out var gb, out bool ab);
        if (!wantX && !wantW && !wantB) return;
        int blocks = (rows + LayerNormGradBlock - 1) / LayerNormGradBlock;
        float[]? partW = wantW ? new float[(long)blocks * d] : null;
        float[]? partB = wantB ? new float[(long)blocks * d] : null;
        nint px = (nint)x.Data, pg = (nint)g.Data, pw = (nint)weight.Data, pgx = wantX ? (nint)gx.Data : 0;
        Parallelism.For(blocks, (b0, b1) =>
        {
            var xhat = new float[d];
            var dxhat = new float[d];
            var w = new ReadOnlySpan<float>((float*)pw, d);
            for (int blk = b0; blk < b1; blk++)
            {
                var accW = partW != null ? partW.AsSpan(blk * d, d) : default;
                var accB = partB != null ? partB.AsSpan(blk * d, d) : default;
                int rEnd = Math.Min(rows, (blk + 1) * LayerNormGradBlock);
                for (int r = blk * LayerNormGradBlock; r < rEnd; r++)
                {
                    var xr = new ReadOnlySpan<float>((float*)px + (long)r * d, d);
                    var gr = new ReadOnlySpan<float>((float*)pg + (long)r * d, d);
                    TensorPrimitives.Subtract(xr, mean[r], xhat);
                    TensorPrimitives.Multiply(xhat, rstd[r], xhat);
                    if (partB != null) TensorPrimitives.Add(accB, gr, accB);
                    if (partW != null) TensorPrimitives.FusedMultiplyAdd(gr, xhat, accW, accW);
                    if (!wantX) continue;
                    var dst = new Span<float>((float*)pgx + (long)r * d, d);
                    TensorPrimitives.Multiply(gr, w, dxhat);
                    float a = TensorPrimitives.Sum(dxhat) / d;
                    float b = TensorPrimitives.Dot(dxhat, xhat) / d;
                    // dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat))
                    TensorPrimitives.Subtract(dxhat, a, dxhat);
                    TensorPrimitives.FusedMultiplyAdd(xhat, -b, dxhat, dxhat);
                    if (ax) TensorPrimitives.FusedMultiplyAdd(dxhat, rstd[r], dst, dst);
                    else TensorPrimitives.Multiply(dxhat, rstd[r], dst);
                }
            }
        });
        if (partW != null) ReduceBlocks(partW, blocks, d, gw.Span, aw);
        if (partB != null) ReduceBlocks(partB, blocks, d, gb.Span, ab);
        GC.KeepAlive(x);
        GC.KeepAlive(g);
        GC.KeepAlive(weight);
    }

    /// <summary>dst (=|+=) the sum of the <paramref name="blocks"/> rows of <paramref name="parts"/>, in row order.</summary>
    private static void ReduceBlocks(float[] parts, int blocks, int d, Span<float> dst, bool accumulate)
    {
        var sum = parts.AsSpan(0, d);
        for (int blk = 1; blk < blocks; blk++) TensorPrimitives.Add(sum, parts.AsSpan(blk * d, d), sum);
        if (accumulate) TensorPrimitives.Add(dst, sum, dst);
        else sum.CopyTo(dst);
    }
}
