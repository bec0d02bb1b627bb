using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.Intrinsics;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Nn;

public static partial class F
{
    private const int ElementwiseGrain = 16384;
    private const int Block = 512;

    /// <summary>GELU, exact form: 0.5·x·(1 + erf(x/√2)) (transformers "gelu").</summary>
    public static Tensor Gelu(Tensor x) => Unary(x, "Gelu", GeluForward, GeluBackward, FastMath.GeluBackward);

    /// <summary>GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (transformers "gelu_new").</summary>
    public static Tensor GeluNew(Tensor x) => Unary(x, "GeluNew", GeluNewForward, GeluNewBackward);

    public static Tensor Relu(Tensor x) => Unary(x, "Relu", (a, y) => TensorPrimitives.Max(a, 0f, y), ReluBackward);

    public static Tensor Tanh(Tensor x)
    {
        Tensor y = Tensor.Empty(x.Shape);
        Elementwise(x.Length, (i, n) => TensorPrimitives.Tanh(x.Span.Slice(i, n), y.Span.Slice(i, n)));
        if (Autograd.Tracks(x))
            Autograd.Record(y, "Tanh", [x], g =>
            {
                if (!Autograd.Target(x, out var gx, out bool acc)) return;
                Elementwise(x.Length, (i, n) =>
                {
                    // dx = g · (1 − y²)
                    Span<float> t = stackalloc float[Block];
                    for (int o = 0; o < n; o += Block)
                    {
                        int m = Math.Min(Block, n - o);
                        var tt = t[..m];
                        var yy = y.Span.Slice(i + o, m);
                        TensorPrimitives.Multiply(yy, yy, tt);
                        TensorPrimitives.Subtract(1f, tt, tt);
                        Finish(tt, g.Span.Slice(i + o, m), gx.Span.Slice(i + o, m), acc);
                    }
                });
            }, saved: [y]);
        return y;
    }

    /// <summary>Forward writes y from x; backward writes the local derivative dy/dx into d from x.</summary>
    private delegate void SpanMap(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>dst (=|+=) g · dy/dx in one pass; false when it cannot run here (the two-step path is used).</summary>
    private delegate bool SpanGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> g, Span<float> dst, bool accumulate);

    private static Tensor Unary(Tensor x, string op, SpanMap forward, SpanMap derivative, SpanGrad? fusedBackward = null)
    {
        var rec = OpRecorder.Begin(op, x);
        Tensor y = Tensor.Empty(x.Shape);
        Elementwise(x.Length, (i, n) => forward(x.Span.Slice(i, n), y.Span.Slice(i, n)));
        if (!rec.Tracks) return rec.Finish(y);
        // Backward keeps x anyway, so y (the next dense layer's saved input) can be recomputed from it, with the
        // same ranges and so the same bits, instead of being held from forward to backward.
        rec.SaveRecomputable(y, (arr, off) => Elementwise(x.Length, (i, n) => forward(x.Span.Slice(i, n), arr.AsSpan(off + i, n))));
        rec.Save(x);
        return rec.Record(y, g =>
        {
            if (!Autograd.TargetOver(x, g, out var gx, out bool acc)) return;
            Elementwise(x.Length, (i, n) =>
            {
                if (fusedBackward != null && fusedBackward(x.Span.Slice(i, n), g.Span.Slice(i, n), gx.Span.Slice(i, n), acc)) return;
                Span<float> t = stackalloc float[Block];
                for (int o = 0; o < n; o += Block)
                {
                    int m = Math.Min(Block, n - o);
                    derivative(x.Span.Slice(i + o, m), t[..m]);
                    Finish(t[..m], g.Span.Slice(i + o, m), gx.Span.Slice(i + o, m), acc);
                }
            });
        });
    }

    /// <summary>dst (=|+=) local · g.</summary>
    private static void Finish(ReadOnlySpan<float> local, ReadOnlySpan<float> g, Span<float> dst, bool accumulate)
    {
        if (accumulate) TensorPrimitives.FusedMultiplyAdd(local, g, dst, dst);
        else TensorPrimitives.Multiply(local, g, dst);
    }

    /// <summary>Runs body(start, count) over [0, n) in parallel ranges for large n.</summary>
    private static void Elementwise(int n, Action<int, int> body)
    {
        if (n < 2 * ElementwiseGrain) body(0, n);
        else Parallelism.For(n, ElementwiseGrain, (b, e) => body(b, e - b));
    }

    // erf via Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), the same formula PyTorch's vectorised CPU erf uses.
    private const float ErfP = 0.3275911f, ErfA1 = 0.254829592f, ErfA2 = -0.284496736f, ErfA3 = 1.421413741f,
        ErfA4 = -1.453152027f, ErfA5 = 1.061405429f;
    private const float Sqrt1_2 = 0.70710678118654752f, InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>e = exp(−(x/√2)²) for a block.</summary>
    private static void GaussTerm(ReadOnlySpan<float> x, Span<float> e)
    {
        TensorPrimitives.Multiply(x, Sqrt1_2, e);
        TensorPrimitives.Multiply(e, e, e);
        TensorPrimitives.Negate(e, e);
        FastMath.Exp(e, e);
    }

    /// <summary>0.5·(1 + erf(x/√2)) given e = exp(−x²/2), in place over e.</summary>
    private static void NormalCdf(ReadOnlySpan<float> x, Span<float> e)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= x.Length - 8; i += 8)
            {
                var vx = Vector256.Create(x.Slice(i, 8));
                var ve = Vector256.Create((ReadOnlySpan<float>)e.Slice(i, 8));
                var u = Vector256.Abs(vx) * Sqrt1_2;
                var t = Vector256<float>.One / (Vector256.FusedMultiplyAdd(u, Vector256.Create(ErfP), Vector256<float>.One));
                var r = Vector256.FusedMultiplyAdd(Vector256.Create(ErfA5), t, Vector256.Create(ErfA4));
                r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(ErfA3));
                r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(ErfA2));
                r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(ErfA1));
                var erfAbs = Vector256<float>.One - r * t * ve;
                var erf = Vector256.ConditionalSelect(Vector256.LessThan(vx, Vector256<float>.Zero), -erfAbs, erfAbs);
                (Vector256.Create(0.5f) * (Vector256<float>.One + erf)).CopyTo(e.Slice(i, 8));
            }
        }
        for (; i < x.Length; i++)
        {
            float u = MathF.Abs(x[i]) * Sqrt1_2;
            float t = 1f / MathF.FusedMultiplyAdd(u, ErfP, 1f);
            float r = MathF.FusedMultiplyAdd(ErfA5, t, ErfA4);
            r = MathF.FusedMultiplyAdd(r, t, ErfA3);
            r = MathF.FusedMultiplyAdd(r, t, ErfA2);
            r = MathF.FusedMultiplyAdd(r, t, ErfA1);
            float erfAbs = 1f - r * t * e[i];
            e[i] = 0.5f * (1f + (x[i] < 0 ? -erfAbs : erfAbs));
        }
    }

    private static void GeluForward(ReadOnlySpan<float> x, Span<float> y)
    {
        if (FastMath.Gelu(x, y, derivative: false)) return;
        Span<float> c = stackalloc float[Block];
        for (int o = 0; o < x.Length; o += Block)
        {
            int m = Math.Min(Block, x.Length - o);
            var xs = x.Slice(o, m);
            var cs = c[..m];
            GaussTerm(xs, cs);
            NormalCdf(xs, cs);
            TensorPrimitives.Multiply(xs, cs, y.Slice(o, m));
        }
    }

    private static void GeluBackward(ReadOnlySpan<float> x, Span<float> d)
    {
        // d/dx [x·Φ(x)] = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)
        if (FastMath.Gelu(x, d, derivative: true)) return;
        Span<float> c = stackalloc float[x.Length];
        GaussTerm(x, d);
        d.CopyTo(c);
        NormalCdf(x, c);
        TensorPrimitives.Multiply(d, InvSqrt2Pi, d);
        TensorPrimitives.FusedMultiplyAdd(x, d, c, d);
    }

    private const float GeluC = 0.7978845608028654f, GeluK = 0.044715f;

    /// <summary>t = tanh(√(2/π)·(x + 0.044715·x³)).</summary>
    private static void GeluNewInner(ReadOnlySpan<float> x, Span<float> t)
    {
        TensorPrimitives.Multiply(x, x, t);
        TensorPrimitives.Multiply(t, x, t);
        TensorPrimitives.FusedMultiplyAdd(t, GeluK, x, t);
        TensorPrimitives.Multiply(t, GeluC, t);
        TensorPrimitives.Tanh(t, t);
    }

    private static void GeluNewForward(ReadOnlySpan<float> x, Span<float> y)
    {
        Span<float> t = stackalloc float[Block];
        for (int o = 0; o < x.Length; o += Block)
        {
            int m = Math.Min(Block, x.Length - o);
            var xs = x.Slice(o, m);
            var ts = t[..m];
            GeluNewInner(xs, ts);
            TensorPrimitives.Add(ts, 1f, ts);
            TensorPrimitives.Multiply(ts, xs, ts);
            TensorPrimitives.Multiply(ts, 0.5f, y.Slice(o, m));
        }
    }

    private static void GeluNewBackward(ReadOnlySpan<float> x, Span<float> d)
    {
        // 0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3k·x²)
        Span<float> t = stackalloc float[x.Length];
        GeluNewInner(x, t);
        for (int i = 0; i < x.Length; i++)
        {
            float xi = x[i], ti = t[i];
            d[i] = 0.5f * (1f + ti) + 0.5f * xi * (1f - ti * ti) * GeluC * (1f + 3f * GeluK * xi * xi);
        }
    }

    private static void ReluBackward(ReadOnlySpan<float> x, Span<float> d)
    {
        for (int i = 0; i < x.Length; i++) d[i] = x[i] > 0 ? 1f : 0f;
    }

    /// <summary>
    /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1−p) when
    /// <paramref name="training"/>; returns <paramref name="x"/> itself otherwise.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Generator? rng = null)
    {
        if (!training || p == 0f) return x;
        if (p < 0f || p > 1f) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability {p} is outside [0, 1].");
        // The mask is kept as one bit per element (1/32 of a float mask) until backward has used it.
        Tensor bits = DropoutBits(x.Length, p, rng ?? RunContext.Current.DropoutGenerator, out float scale);
        Tensor y = Tensor.Empty(x.Shape);
        Elementwise(x.Length, (i, n) => ApplyKeepBits(bits, scale, i, n, x.Span.Slice(i, n), y.Span.Slice(i, n), accumulate: false));
        if (!Autograd.Tracks(x))
        {
            bits.Dispose();
            return y;
        }
        Autograd.Record(y, "Dropout", [x], g =>
        {
            if (!Autograd.TargetOver(x, g, out var gx, out bool acc)) return;
            Elementwise(x.Length, (i, n) => ApplyKeepBits(bits, scale, i, n, g.Span.Slice(i, n), gx.Span.Slice(i, n), acc));
        }, release: bits.Dispose, saved: []);
        return y;
    }

    /// <summary>dst (=|+=) the keep-bit mask <paramref name="bits"/> ⊙ src over elements [start, start + n).</summary>
    private static void ApplyKeepBits(Tensor bits, float scale, int start, int n, ReadOnlySpan<float> src, Span<float> dst, bool accumulate)
        => KeepBits.Apply(System.Runtime.InteropServices.MemoryMarshal.Cast<float, ulong>(bits.Span), scale, start, n, src, dst, accumulate);

    private const int DropoutChunk = 1 << 16;

    /// <summary>
    /// Keep-mask of 0 or 1/(1−p). One seed is drawn from <paramref name="rng"/>, and each 64K-element chunk gets
    /// its own stream derived from it, so the mask is the same whatever the thread count.
    /// </summary>
    internal static Tensor DropoutMask(int length, float p, Generator rng)
    {
        Tensor mask = Tensor.Empty(length);
        ulong seed = rng.NextUInt64();
        float scale = p >= 1f ? 0f : 1f / (1f - p);
        double keep = 1.0 - p;
        uint threshold = keep >= 1.0 ? uint.MaxValue : (uint)(keep * 4294967296.0);
        int chunks = (length + DropoutChunk - 1) / DropoutChunk;
        Parallelism.For(chunks, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                var gen = new Generator(seed + (ulong)c * 0x9E3779B97F4A7C15UL);
                gen.FillKeepMask(mask.Span.Slice(c * DropoutChunk, Math.Min(DropoutChunk, length - c * DropoutChunk)), threshold, scale);
            }
        });
        return mask;
    }

    /// <summary>
    /// <see cref="DropoutMask"/>'s keep decisions as bits (element i is bit i % 64 of ulong i / 64, stored in a
    /// pooled float tensor): the same seed draw and the same per-chunk streams, so the same elements are kept.
    /// </summary>
    internal static Tensor DropoutBits(int length, float p, Generator rng, out float scale)
    {
        int words = (length + 63) / 64;
        Tensor bits = Tensor.Empty(words * 2);
        ulong seed = rng.NextUInt64();
        scale = p >= 1f ? 0f : 1f / (1f - p);
        double keep = 1.0 - p;
        uint threshold = keep >= 1.0 ? uint.MaxValue : (uint)(keep * 4294967296.0);
        int chunks = (length + DropoutChunk - 1) / DropoutChunk;
        Parallelism.For(chunks, (c0, c1) =>
        {
            var all = System.Runtime.InteropServices.MemoryMarshal.Cast<float, ulong>(bits.Span);
            for (int c = c0; c < c1; c++)
            {
                var gen = new Generator(seed + (ulong)c * 0x9E3779B97F4A7C15UL);
                int count = Math.Min(DropoutChunk, length - c * DropoutChunk);
                gen.FillKeepBits(all.Slice(c * (DropoutChunk / 64), (count + 63) / 64), count, threshold);
            }
        });
        return bits;
    }
}
