using Finetune.Tensors;
using Finetune.Tensors.Kernels;

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
        LayerNormKernels.Forward(x.Span, y.Span, weight.Span, bias.Span, rows, d, eps, mean, rstd);
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
        LayerNormKernels.AddForward(x.Span, residual.Span, sum.Span, y.Span, weight.Span, bias.Span, rows, d, eps, mean, rstd);
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
    private static void LayerNormApply(Tensor x, float[] arr, int off, Tensor weight, Tensor bias, float[] mean, float[] rstd, int rows, int d)
        => LayerNormKernels.Apply(x.Span, arr.AsSpan(off, rows * d), weight.Span, bias.Span, mean, rstd, rows, d);

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

    /// <summary>dx (when given) and the weight and bias gradients of LayerNorm, from its normalised input x and g.</summary>
    private static void LayerNormBackward(Tensor x, Tensor weight, Tensor bias, Tensor g, float[] mean, float[] rstd, int rows, int d,
        Tensor? dx, bool accumulateDx)
    {
        bool wantW = Autograd.Target(weight, out var gw, out bool aw);
        bool wantB = Autograd.Target(bias, out var gb, out bool ab);
        if (dx == null && !wantW && !wantB) return;
        int blocks = (rows + LayerNormKernels.GradBlock - 1) / LayerNormKernels.GradBlock;
        // Partials for both sums are always made (a pass that skips one saves little); unwanted ones are dropped.
        // Pooled, so a step's LayerNorms leave no pinned garbage behind.
        using Tensor partW = Tensor.Empty(blocks * d), partB = Tensor.Empty(blocks * d);
        LayerNormKernels.Backward(x.Span, g.Span, weight.Span, mean, rstd, rows, d, partW.Span, partB.Span, dx != null ? dx.Span : default, accumulateDx);
        if (wantW) LayerNormKernels.ReduceBlocks(partW.Span, blocks, d, gw.Span, aw);
        if (wantB) LayerNormKernels.ReduceBlocks(partB.Span, blocks, d, gb.Span, ab);
    }
}
