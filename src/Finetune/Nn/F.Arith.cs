using System.Runtime.CompilerServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Nn;

public static partial class F
{
    /// <summary>
    /// a + b. Shapes are equal, or one operand's shape is a suffix of the other's and it is repeated over the
    /// leading dimensions (position embeddings [T, H] added to [B, T, H]).
    /// </summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        if (a.Length < b.Length) (a, b) = (b, a);
        int inner = BroadcastInner(a, b, "Add");
        Tensor y = Tensor.Empty(a.Shape);
        Tensor ta = a, tb = b;
        Elementwise(a.Length, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i, n) =>
        {
            // [i, i + n) may start and end inside a repeat of b.
            for (int o = i, end = i + n; o < end;)
            {
                int bo = o % inner, m = Math.Min(end - o, inner - bo);
                TensorPrimitives.Add(ta.Span.Slice(o, m), tb.Span.Slice(bo, m), y.Span.Slice(o, m));
                o += m;
            }
        });
        if (Autograd.Tracks(a, b))
        {
            Autograd.Record(y, "Add", [ta, tb], g =>
            {
                SendParallel(ta, g);
                if (Autograd.Target(tb, out var gb, out bool acc)) SumBlocks(g.Span, inner, gb.Span, acc);
            }, saved: []);
        }
        return y;
    }

    /// <summary>Autograd.Send for a large gradient: the copy (or add) split over the workers.</summary>
    private static void SendParallel(Tensor x, Tensor g)
    {
        if (Autograd.Target(x, out var gx, out bool acc)) AddInto(gx, g, acc);
    }

    /// <summary>a ⊙ b elementwise, with the same broadcasting as <see cref="Add"/>.</summary>
    public static Tensor Mul(Tensor a, Tensor b)
    {
        if (a.Length < b.Length) (a, b) = (b, a);
        int inner = BroadcastInner(a, b, "Mul");
        Tensor y = Tensor.Empty(a.Shape);
        for (int o = 0; o < a.Length; o += inner)
            TensorPrimitives.Multiply(a.Span.Slice(o, inner), b.Span.Slice(0, inner), y.Span.Slice(o, inner));
        if (Autograd.Tracks(a, b))
        {
            Tensor ta = a, tb = b;
            Autograd.Record(y, "Mul", [ta, tb], g =>
            {
                if (Autograd.Target(ta, out var ga, out bool aa))
                    for (int o = 0; o < ta.Length; o += inner)
                    {
                        var dst = ga.Span.Slice(o, inner);
                        if (aa) TensorPrimitives.FusedMultiplyAdd(g.Span.Slice(o, inner), tb.Span.Slice(0, inner), dst, dst);
                        else TensorPrimitives.Multiply(g.Span.Slice(o, inner), tb.Span.Slice(0, inner), dst);
                    }
                if (Autograd.Target(tb, out var gb, out bool ab))
                {
                    if (!ab) gb.Span.Clear();
                    for (int o = 0; o < ta.Length; o += inner)
                        TensorPrimitives.FusedMultiplyAdd(g.Span.Slice(o, inner), ta.Span.Slice(o, inner), gb.Span, gb.Span);
                }
            }, saved: [ta, tb]);
        }
        return y;
    }

    /// <summary>x · s.</summary>
    public static Tensor Scale(Tensor x, float s)
    {
        Tensor y = Tensor.Empty(x.Shape);
        TensorPrimitives.Multiply(x.Span, s, y.Span);
        if (Autograd.Tracks(x))
            Autograd.Record(y, "Scale", [x], g =>
            {
                if (!Autograd.Target(x, out var gx, out bool acc)) return;
                if (acc) TensorPrimitives.FusedMultiplyAdd(g.Span, s, gx.Span, gx.Span);
                else TensorPrimitives.Multiply(g.Span, s, gx.Span);
            }, saved: []);
        return y;
    }

    /// <summary>Sum of all elements (a scalar).</summary>
    public static Tensor Sum(Tensor x) => Reduce(x, "Sum", 1f);

    /// <summary>Mean of all elements (a scalar).</summary>
    public static Tensor Mean(Tensor x) => Reduce(x, "Mean", 1f / x.Length);

    private static Tensor Reduce(Tensor x, string op, float factor)
    {
        double s = 0;
        foreach (float v in x.Span) s += v;
        Tensor y = Tensor.Scalar((float)(s * factor));
        if (Autograd.Tracks(x))
            Autograd.Record(y, op, [x], g =>
            {
                if (!Autograd.Target(x, out var gx, out bool acc)) return;
                float v = g.Span[0] * factor;
                if (acc) TensorPrimitives.Add(gx.Span, v, gx.Span);
                else gx.Span.Fill(v);
            }, saved: []);
        return y;
    }

    /// <summary>Length of b's repeated block inside a, checking that b's shape is a suffix of a's.</summary>
    private static int BroadcastInner(Tensor a, Tensor b, string op)
    {
        bool ok = b.Rank <= a.Rank;
        for (int i = 1; ok && i <= b.Rank; i++) ok = a.Shape[^i] == b.Shape[^i];
        if (!ok || (b.Length == 0 && a.Length != 0))
            throw new ArgumentException($"{op}: shapes {Tensor.ShapeString(a.Shape)} and {Tensor.ShapeString(b.Shape)} do not broadcast.");
        return Math.Max(1, b.Length);
    }

    /// <summary>
    /// dst (=|+=) Σ over consecutive blocks of src of length inner. Split over columns of the block, each summed
    /// in block order, so the result does not depend on the thread count.
    /// </summary>
    private static unsafe void SumBlocks(ReadOnlySpan<float> src, int inner, Span<float> dst, bool accumulate)
    {
        int blocks = src.Length / inner;
        if (blocks == 0 || dst.IsEmpty)
        {
            if (!accumulate) dst.Clear();
            return;
        }
        fixed (float* ps = src, pd = dst)
        {
            nint s = (nint)ps, d = (nint)pd;
            Parallelism.For(inner, Math.Max(64, ElementwiseGrain / Math.Max(1, blocks)), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (c0, c1) =>
            {
                var acc = new Span<float>((float*)d + c0, c1 - c0);
                var first = new ReadOnlySpan<float>((float*)s + c0, c1 - c0);
                if (!accumulate) first.CopyTo(acc);
                else TensorPrimitives.Add(acc, first, acc);
                for (int o = 1; o < blocks; o++) TensorPrimitives.Add(acc, new ReadOnlySpan<float>((float*)s + (long)o * inner + c0, c1 - c0), acc);
            });
        }
    }

    /// <summary>Softmax over the last dimension.</summary>
    public static Tensor Softmax(Tensor x)
    {
        int d = LastDim(x, "Softmax");
        int rows = d == 0 ? 0 : x.Length / d;
        Tensor y = Tensor.Empty(x.Shape);
        Parallelism.For(rows, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) SoftmaxRow(x.Span.Slice(r * d, d), y.Span.Slice(r * d, d));
        });
        if (Autograd.Tracks(x))
            Autograd.Record(y, "Softmax", [x], g =>
            {
                if (!Autograd.Target(x, out var gx, out bool acc)) return;
                Parallelism.For(rows, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                        SoftmaxBackwardRow(y.Span.Slice(r * d, d), g.Span.Slice(r * d, d), gx.Span.Slice(r * d, d), acc);
                });
            }, saved: [y]);
        return y;
    }

    internal static void SoftmaxRow(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length == 0) return;
        float max = TensorPrimitives.Max(x);
        float sum = FastMath.ExpShiftedSum(x, max, y);
        TensorPrimitives.Divide(y, sum, y);
    }

    /// <summary>dx (=|+=) y ⊙ (g − Σ g⊙y).</summary>
    internal static void SoftmaxBackwardRow(ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx, bool accumulate)
    {
        float dot = TensorPrimitives.Dot(g, y);
        if (!accumulate)
        {
            // dx may be g itself (attention backward works in place).
            TensorPrimitives.Subtract(g, dot, dx);
            TensorPrimitives.Multiply(dx, y, dx);
            return;
        }
        for (int i = 0; i < y.Length; i++) dx[i] += y[i] * (g[i] - dot);
    }
}
