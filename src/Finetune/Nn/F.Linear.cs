using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;

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
        Tensor y = Tensor.Empty(shape);
        for (int i = 0; i < idSpan.Length; i++) weight.Span.Slice(idSpan[i] * dim, dim).CopyTo(y.Span.Slice(i * dim, dim));
        if (Autograd.Tracks(weight))
        {
            int[] saved = ids.ToArray();
            Autograd.Record(y, "Embedding", [weight], g =>
            {
                if (!Autograd.Target(weight, out var gw, out bool acc)) return;
                if (!acc) gw.Span.Clear();
                for (int i = 0; i < saved.Length; i++)
                {
                    if (saved[i] == pad) continue;
                    var row = gw.Span.Slice(saved[i] * dim, dim);
                    TensorPrimitives.Add(row, g.Span.Slice(i * dim, dim), row);
                }
            }, saved: []);
        }
        return y;
    }
}
