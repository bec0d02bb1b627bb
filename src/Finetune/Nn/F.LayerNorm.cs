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
            Autograd.Record(y, "LayerNorm", [x, weight, bias], g => LayerNormBackward(x, weight, bias, g, mean, rstd, rows, d));
        return y;
    }

    private static unsafe void LayerNormBackward(Tensor x, Tensor weight, Tensor bias, Tensor g, float[] mean, float[] rstd, int rows, int d)
    {
        nint px = (nint)x.Data, pg = (nint)g.Data, pw = (nint)weight.Data;
        if (Autograd.Target(x, out var gx, out bool ax))
        {
            nint pgx = (nint)gx.Data;
            Parallelism.For(rows, (r0, r1) =>
            {
                var xhat = new float[d];
                var dxhat = new float[d];
                for (int r = r0; r < r1; r++)
                {
                    var xr = new ReadOnlySpan<float>((float*)px + (long)r * d, d);
                    var gr = new ReadOnlySpan<float>((float*)pg + (long)r * d, d);
                    var dst = new Span<float>((float*)pgx + (long)r * d, d);
                    TensorPrimitives.Subtract(xr, mean[r], xhat);
                    TensorPrimitives.Multiply(xhat, rstd[r], xhat);
                    TensorPrimitives.Multiply(gr, new ReadOnlySpan<float>((float*)pw, d), dxhat);
                    float a = TensorPrimitives.Sum(dxhat) / d;
                    float b = TensorPrimitives.Dot(dxhat, xhat) / d;
                    // dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat))
                    TensorPrimitives.Subtract(dxhat, a, dxhat);
                    TensorPrimitives.FusedMultiplyAdd(xhat, -b, dxhat, dxhat);
                    if (ax) TensorPrimitives.FusedMultiplyAdd(dxhat, rstd[r], dst, dst);
                    else TensorPrimitives.Multiply(dxhat, rstd[r], dst);
                }
            });
        }
        bool wantW = Autograd.Target(weight, out var gw, out bool aw);
        bool wantB = Autograd.Target(bias, out var gb, out bool ab);
        if (wantW || wantB)
        {
            nint pgw = wantW ? (nint)gw.Data : 0, pgb = wantB ? (nint)gb.Data : 0;
            Parallelism.For(d, 64, (c0, c1) =>
            {
                int w = c1 - c0;
                var xhat = new float[w];
                var accW = new Span<float>((float*)pgw + c0, wantW ? w : 0);
                var accB = new Span<float>((float*)pgb + c0, wantB ? w : 0);
                if (wantW && !aw) accW.Clear();
                if (wantB && !ab) accB.Clear();
                for (int r = 0; r < rows; r++)
                {
                    var gr = new ReadOnlySpan<float>((float*)pg + (long)r * d + c0, w);
                    if (wantB) TensorPrimitives.Add(accB, gr, accB);
                    if (wantW)
                    {
                        TensorPrimitives.Subtract(new ReadOnlySpan<float>((float*)px + (long)r * d + c0, w), mean[r], xhat);
                        TensorPrimitives.Multiply(xhat, rstd[r], xhat);
                        TensorPrimitives.FusedMultiplyAdd(gr, xhat, accW, accW);
                    }
                }
            });
        }
        GC.KeepAlive(x);
        GC.KeepAlive(g);
    }
}
