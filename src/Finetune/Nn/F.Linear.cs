using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Nn;

public static partial class F
{
    /// <summary>y = x·Wᵀ + b over the last dimension: x [..., in], W [out, in] (checkpoint layout), b [out].</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (weight.Rank != 2) throw new ArgumentException($"Linear: weight must be [out, in], got {Tensor.ShapeString(weight.Shape)}.");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (LastDim(x, "Linear") != inF)
            throw new ArgumentException($"Linear: input {Tensor.ShapeString(x.Shape)} does not end in {inF} (weight {weight.Name ?? Tensor.ShapeString(weight.Shape)}).");
        if (bias != null && bias.Length != outF) throw new ArgumentException($"Linear: bias has {bias.Length} values, expected {outF}.");
        int n = ElementsBeforeLast(x);
        Tensor y = Tensor.Empty(WithLast(x.Shape, outF));
        Gemm.Multiply(GemmForm.NT, n, outF, inF, x.Span, weight.Span, y.Span, false, bias != null ? bias.Span : default);
        if (Autograd.Tracks(x, weight, bias))
            Autograd.Record(y, "Linear", bias != null ? [x, weight, bias] : [x, weight], g =>
            {
                if (Autograd.Target(x, out var gx, out bool ax))
                    Gemm.Multiply(GemmForm.NN, n, inF, outF, g.Span, weight.Span, gx.Span, ax);
                if (Autograd.Target(weight, out var gw, out bool aw))
                    Gemm.Multiply(GemmForm.TN, outF, inF, n, g.Span, x.Span, gw.Span, aw);
                if (bias != null && Autograd.Target(bias, out var gb, out bool ab))
                    ColumnSums(g.Span, n, outF, gb.Span, ab);
            }, saved: [x, weight]);
        return y;
    }

    /// <summary>
    /// Several Linear layers on the same input as one GEMM: y = x·[W₀; W₁; …]ᵀ + [b₀, b₁, …], whose last dimension
    /// is Σ outᵢ (the query/key/value projections read their input once, and one wide product runs faster than
    /// three narrow ones). Each output column is the same dot product the separate Linear computes; the gradients
    /// go to every weight and bias as theirs would.
    /// </summary>
    public static Tensor LinearStacked(Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor>? biases = null)
    {
        if (weights.Count == 0) throw new ArgumentException("LinearStacked: no weights.");
        if (biases != null && biases.Count != weights.Count) throw new ArgumentException($"LinearStacked: {weights.Count} weights but {biases.Count} biases.");
        int inF = LastDim(x, "LinearStacked"), total = 0;
        var rowStart = new int[weights.Count + 1];
        for (int i = 0; i < weights.Count; i++)
        {
            var w = weights[i];
            if (w.Rank != 2 || w.Shape[1] != inF)
                throw new ArgumentException($"LinearStacked: weight {w.Name ?? Tensor.ShapeString(w.Shape)} is not [out, {inF}] for input {Tensor.ShapeString(x.Shape)}.");
            if (biases != null && biases[i].Length != w.Shape[0]) throw new ArgumentException($"LinearStacked: bias {i} has {biases[i].Length} values, expected {w.Shape[0]}.");
            rowStart[i] = total;
            total += w.Shape[0];
        }
        rowStart[^1] = total;
        var ws = weights.ToArray();
        var bs = biases?.ToArray();
        var op = OpRecorder.Begin("LinearStacked", [x, .. ws, .. bs ?? []]);
        int n = ElementsBeforeLast(x);
        Tensor y = Tensor.Empty(WithLast(x.Shape, total));
        // Each weight is read where it lives (no stacked copy is made per call), so backward restacks the weights
        // when it runs, as Linear's backward reads its weight then.
        var wp = new nint[weights.Count];
        var bp = biases != null ? new nint[weights.Count] : null;
        unsafe
        {
            for (int i = 0; i < wp.Length; i++)
            {
                wp[i] = (nint)weights[i].Data;
                if (bp != null) bp[i] = (nint)biases![i].Data;
            }
            StackedGemm.MultiplyNT(n, inF, x.Data, wp, bp, rowStart, y.Data);
        }
        if (!op.Tracks) return op.Finish(y);
        op.Save([x, .. ws]); // the weights are restacked from the parameters when backward runs
        return op.Record(y, g =>
        {
            if (Autograd.Target(x, out var gx, out bool ax))
            {
                using Tensor w = Stack(ws, total, inF);
                Gemm.Multiply(GemmForm.NN, n, inF, total, g.Span, w.Span, gx.Span, ax);
            }
            if (AnyRequiresGrad(ws))
            {
                using Tensor gwAll = Tensor.Empty(total, inF);
                Gemm.Multiply(GemmForm.TN, total, inF, n, g.Span, x.Span, gwAll.Span, false);
                for (int i = 0; i < ws.Length; i++) Autograd.Send(ws[i], gwAll.Span.Slice(rowStart[i] * inF, ws[i].Length));
            }
            if (bs != null && AnyRequiresGrad(bs))
            {
                using Tensor gbAll = Tensor.Empty(total);
                ColumnSums(g.Span, n, total, gbAll.Span, false);
                for (int i = 0; i < bs.Length; i++) Autograd.Send(bs[i], gbAll.Span.Slice(rowStart[i], bs[i].Length));
            }
        });
    }

    /// <summary>The parameters' values one after another in a new [total, width] tensor.</summary>
    private static Tensor Stack(IReadOnlyList<Tensor> parts, int total, int width)
    {
        Tensor t = width == 1 ? Tensor.Empty(total) : Tensor.Empty(total, width);
        int offset = 0;
        foreach (var p in parts)
        {
            p.Span.CopyTo(t.Span.Slice(offset));
            offset += p.Length;
        }
        return t;
    }

    private static bool AnyRequiresGrad(Tensor[] ts)
    {
        foreach (var t in ts)
            if (t.RequiresGrad) return true;
        return false;
    }

    private static int ElementsBeforeLast(Tensor x)
    {
        int n = 1;
        for (int i = 0; i < x.Rank - 1; i++) n *= x.Shape[i];
        return n;
    }

    /// <summary>
    /// dst[c] (=|+=) Σ_r src[r, c], split over columns so each thread owns a range (deterministic). Each strip of
    /// columns keeps its running sums in registers down all the rows; every column is still summed in row order.
    /// </summary>
    internal static void ColumnSums(ReadOnlySpan<float> src, int rows, int cols, Span<float> dst, bool accumulate)
    {
        if (!accumulate) dst[..cols].Clear();
        unsafe
        {
            fixed (float* ps = src, pd = dst)
            {
                nint s = (nint)ps, d = (nint)pd;
                Parallelism.For(cols, 64, (c0, c1) => ColumnSumsRange((float*)s, rows, cols, (float*)d, c0, c1));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ColumnSumsRange(float* src, int rows, int cols, float* dst, int c0, int c1)
    {
        int c = c0;
        int w = Vector256<float>.Count;
        for (; c + 4 * w <= c1; c += 4 * w)
        {
            float* p = src + c;
            Vector256<float> a0 = Vector256.Load(dst + c), a1 = Vector256.Load(dst + c + w), a2 = Vector256.Load(dst + c + 2 * w), a3 = Vector256.Load(dst + c + 3 * w);
            for (int r = 0; r < rows; r++, p += cols)
            {
                a0 += Vector256.Load(p);
                a1 += Vector256.Load(p + w);
                a2 += Vector256.Load(p + 2 * w);
                a3 += Vector256.Load(p + 3 * w);
            }
            a0.Store(dst + c);
            a1.Store(dst + c + w);
            a2.Store(dst + c + 2 * w);
            a3.Store(dst + c + 3 * w);
        }
        for (; c + w <= c1; c += w)
        {
            float* p = src + c;
            Vector256<float> a = Vector256.Load(dst + c);
            for (int r = 0; r < rows; r++, p += cols) a += Vector256.Load(p);
            a.Store(dst + c);
        }
        for (; c < c1; c++)
        {
            float a = dst[c];
            for (int r = 0; r < rows; r++) a += src[(long)r * cols + c];
            dst[c] = a;
        }
    }

    /// <summary>Looks up rows of <paramref name="weight"/> [num, dim] for each id; the padding row gets no gradient.</summary>
    public static Tensor Embedding(IntTensor ids, Tensor weight, int? paddingIdx = null)
    {
        if (weight.Rank != 2) throw new ArgumentException($"Embedding: weight must be [num, dim], got {Tensor.ShapeString(weight.Shape)}.");
        int num = weight.Shape[0], dim = weight.Shape[1];
        int pad = paddingIdx is int p ? (p < 0 ? p + num : p) : -1;
        var idSpan = ids.Span;
        for (int i = 0; i < idSpan.Length; i++)
            if ((uint)idSpan[i] >= (uint)num)
                throw new FinetuneException(ErrorKind.InvalidInput,
                    $"Token id {idSpan[i]} at position {i} is outside the embedding table {weight.Name ?? ""} of {num} rows.");
        var shape = new int[ids.Rank + 1];
        ids.Shape.CopyTo(shape, 0);
        shape[^1] = dim;
        var op = OpRecorder.Begin("Embedding", weight);
        Tensor y = Tensor.Empty(shape);
        EmbeddingKernels.Gather(idSpan, weight.Span, y.Span, dim);
        if (!op.Tracks) return op.Finish(y);
        int[] saved = ids.ToArray();
        op.Save(); // backward reads its own copy of the ids, not the table
        return op.Record(y, g =>
        {
            if (!Autograd.Target(weight, out var gw, out bool acc)) return;
            EmbeddingKernels.ScatterAdd(saved, pad, g.Span, gw.Span, num, dim, acc);
        });
    }
}
