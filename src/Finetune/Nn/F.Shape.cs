using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// Functional ops with hand-written backward passes. Each takes and returns <see cref="Tensor"/>s and records
/// itself for autograd when an input requires grad and gradients are enabled.
/// </summary>
public static partial class F
{
    /// <summary>
    /// Inference only (gradients off): <paramref name="block"/>, a function of each row alone that keeps the width
    /// (a transformer's feed-forward and its add &amp; norm), applied to a slice of rows of <paramref name="x"/> at
    /// a time, each chunk's intermediates going back to the pool before the next: the block's widest tensor
    /// (<paramref name="widestFeatures"/> a row, 4 × hidden in BERT) is then at most 8 MB instead of the batch's
    /// (bert-small, 4096 tokens: 33.5 MB). Smaller chunks would save little more and cost time: each GEMM packs
    /// its weights again per chunk (2 MB chunks: bert-small seq 128 inference 4% slower, 8 MB: 1-3%). Same rows as
    /// <c>block(x)</c>; transformers' <c>apply_chunking_to_forward</c> does the same along the sequence.
    /// </summary>
    public static Tensor ApplyInRowChunks(Tensor x, int widestFeatures, Func<Tensor, Tensor> block)
    {
        if (Tensor.IsGradEnabled && x.RequiresGrad) throw new InvalidOperationException("ApplyInRowChunks runs without gradients (inside Tensor.NoGrad()).");
        int d = LastDim(x, "ApplyInRowChunks");
        int rows = d == 0 ? 0 : x.Length / d;
        int rowsPerChunk = Math.Max(128, (1 << 21) / Math.Max(1, widestFeatures));
        if (rows <= rowsPerChunk) return block(x);
        Tensor y = Tensor.Empty(x.Shape);
        for (int r0 = 0; r0 < rows; r0 += rowsPerChunk)
        {
            int n = Math.Min(rowsPerChunk, rows - r0);
            using var scope = TensorScope.Begin();
            Tensor chunk = Tensor.Empty(n, d);
            x.Span.Slice(r0 * d, n * d).CopyTo(chunk.Span);
            Tensor outChunk = block(chunk);
            if (outChunk.Length != n * d)
                throw new InvalidOperationException($"ApplyInRowChunks: the block turned {n} rows of {d} into {Tensor.ShapeString(outChunk.Shape)}; it must keep rows and width.");
            outChunk.Span.CopyTo(y.Span.Slice(r0 * d, n * d));
        }
        return y;
    }

    /// <summary>The same data under another shape (one dimension may be -1); a view, no copy.</summary>
    public static Tensor Reshape(Tensor x, params int[] shape) => x.Reshape(shape);

    /// <summary>[B, T, H·D] → [B, H, T, D] (splits the hidden size into attention heads).</summary>
    public static Tensor SplitHeads(Tensor x, int heads)
    {
        RequireRank(x, 3, "SplitHeads");
        int b = x.Shape[0], t = x.Shape[1], c = x.Shape[2];
        if (heads <= 0 || c % heads != 0) throw new ArgumentException($"SplitHeads: hidden size {c} is not divisible by {heads} heads.");
        int d = c / heads;
        Tensor y = Tensor.Empty(b, heads, t, d);
        Swap12(x.Span, y.Span, b, t, heads, d, accumulate: false);
        if (Autograd.Tracks(x))
            Autograd.Record(y, "SplitHeads", [x], g =>
            {
                if (Autograd.Target(x, out var gx, out bool acc)) Swap12(g.Span, gx.Span, b, heads, t, d, acc);
            }, saved: []);
        return y;
    }

    /// <summary>[B, H, T, D] → [B, T, H·D] (joins attention heads back into the hidden size).</summary>
    public static Tensor MergeHeads(Tensor x)
    {
        RequireRank(x, 4, "MergeHeads");
        int b = x.Shape[0], h = x.Shape[1], t = x.Shape[2], d = x.Shape[3];
        Tensor y = Tensor.Empty(b, t, h * d);
        Swap12(x.Span, y.Span, b, h, t, d, accumulate: false);
        if (Autograd.Tracks(x))
            Autograd.Record(y, "MergeHeads", [x], g =>
            {
                if (Autograd.Target(x, out var gx, out bool acc)) Swap12(g.Span, gx.Span, b, t, h, d, acc);
            }, saved: []);
        return y;
    }

    /// <summary>[B, T, H] → [B, H]: the hidden state of the first token ([CLS] / &lt;s&gt;) of each sequence.</summary>
    public static Tensor SelectFirstToken(Tensor x)
    {
        RequireRank(x, 3, "SelectFirstToken");
        int b = x.Shape[0], t = x.Shape[1], h = x.Shape[2];
        if (t == 0) throw new ArgumentException("SelectFirstToken: sequence length is 0.");
        Tensor y = Tensor.Empty(b, h);
        for (int i = 0; i < b; i++) x.Span.Slice(i * t * h, h).CopyTo(y.Span.Slice(i * h, h));
        if (Autograd.Tracks(x))
            Autograd.Record(y, "SelectFirstToken", [x], g =>
            {
                if (!Autograd.Target(x, out var gx, out bool acc)) return;
                if (!acc) gx.Span.Clear();
                for (int i = 0; i < b; i++)
                {
                    var dst = gx.Span.Slice(i * t * h, h);
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, g.Span.Slice(i * h, h), dst);
                }
            }, saved: []);
        return y;
    }

    /// <summary>Copies src [A, P, Q, D] into dst [A, Q, P, D] (or adds into it).</summary>
    private static void Swap12(ReadOnlySpan<float> src, Span<float> dst, int a, int p, int q, int d, bool accumulate)
    {
        for (int i = 0; i < a; i++)
            for (int j = 0; j < p; j++)
                for (int l = 0; l < q; l++)
                {
                    var s = src.Slice(((i * p + j) * q + l) * d, d);
                    var t = dst.Slice(((i * q + l) * p + j) * d, d);
                    if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(t, s, t);
                    else s.CopyTo(t);
                }
    }

    private static void RequireRank(Tensor x, int rank, string op)
    {
        if (x.Rank != rank) throw new ArgumentException($"{op}: expected a rank-{rank} tensor, got {Tensor.ShapeString(x.Shape)}.");
    }

    private static int LastDim(Tensor x, string op)
    {
        if (x.Rank == 0) throw new ArgumentException($"{op}: needs at least one dimension.");
        return x.Shape[^1];
    }

    private static int[] WithLast(int[] shape, int last)
    {
        var r = (int[])shape.Clone();
        r[^1] = last;
        return r;
    }
}
