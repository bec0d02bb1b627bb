using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;

namespace Finetune.Nn;

public static partial class F
{
    /// <summary>
    /// Cross-entropy of logits [..., C] against class ids (one per row), averaged over rows whose label is not
    /// <paramref name="ignoreIndex"/>, as torch.nn.CrossEntropyLoss(reduction="mean"): with class
    /// <paramref name="weight"/>s the mean is weighted by the target classes' weights; with
    /// <paramref name="labelSmoothing"/> ε the loss is (1−ε)·nll + ε/C·Σ_c w_c·(−log p_c), normalised the same way.
    /// A batch whose labels are all ignored gives NaN, as PyTorch does.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, IntTensor labels, int ignoreIndex = -100, float labelSmoothing = 0f, Tensor? weight = null)
    {
        int c = LastDim(logits, "CrossEntropy");
        int rows = c == 0 ? 0 : logits.Length / c;
        if (labels.Length != rows)
            throw new ArgumentException($"CrossEntropy: {labels.Length} labels for {rows} rows of logits {Tensor.ShapeString(logits.Shape)}.");
        if (weight != null && weight.Length != c) throw new ArgumentException($"CrossEntropy: {weight.Length} class weights for {c} classes.");
        if (labelSmoothing < 0f || labelSmoothing > 1f) throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"Label smoothing {labelSmoothing} is outside [0, 1].");
        int[] y = labels.ToArray();
        for (int i = 0; i < rows; i++)
            if (y[i] != ignoreIndex && (uint)y[i] >= (uint)c)
                throw new FinetuneException(ErrorKind.InvalidInput, $"Label {y[i]} at position {i} is outside the {c} classes [0, {c}).");
        float[]? w = weight?.ToArray();
        float wSum = w != null ? (float)Sum(w) : c;

        var lse = new float[rows];
        double nll = 0, smooth = 0, norm = 0;
        var x = logits.Span;
        for (int i = 0; i < rows; i++)
        {
            var row = x.Slice(i * c, c);
            float max = TensorPrimitives.Max(row);
            double se = 0;
            for (int j = 0; j < c; j++) se += Math.Exp(row[j] - max);
            lse[i] = max + (float)Math.Log(se);
            if (y[i] == ignoreIndex) continue;
            float wy = w != null ? w[y[i]] : 1f;
            norm += wy;
            nll += wy * (lse[i] - row[y[i]]);
            if (labelSmoothing > 0f)
                for (int j = 0; j < c; j++) smooth += (w != null ? w[j] : 1f) * (lse[i] - row[j]);
        }
        double loss = (1 - labelSmoothing) * nll / norm + labelSmoothing / c * smooth / norm;
        Tensor result = Tensor.Scalar((float)loss);
        if (Autograd.Tracks(logits))
        {
            float normF = (float)norm, eps = labelSmoothing;
            Autograd.Record(result, "CrossEntropy", [logits], g =>
            {
                if (!Autograd.Target(logits, out var gl, out bool acc)) return;
                float go = g.Span[0];
                var lx = logits.Span;
                var dst = gl.Span;
                for (int i = 0; i < rows; i++)
                {
                    var row = lx.Slice(i * c, c);
                    var drow = dst.Slice(i * c, c);
                    if (y[i] == ignoreIndex)
                    {
                        if (!acc) drow.Clear();
                        continue;
                    }
                    float wy = w != null ? w[y[i]] : 1f;
                    // d/dx_j = [(1−ε)·w_y·(p_j − δ_jy) + ε/C·(p_j·Σw − w_j)] / norm
                    float a = (1 - eps) * wy, bcoef = eps / c;
                    for (int j = 0; j < c; j++)
                    {
                        float p = MathF.Exp(row[j] - lse[i]);
                        float v = a * (p - (j == y[i] ? 1f : 0f)) + bcoef * (p * wSum - (w != null ? w[j] : 1f));
                        v = v / normF * go;
                        drow[j] = acc ? drow[j] + v : v;
                    }
                }
            });
        }
        return result;
    }

    private static double Sum(float[] v)
    {
        double s = 0;
        foreach (float f in v) s += f;
        return s;
    }

    /// <summary>Mean squared error: mean((input − target)²). Both hold the same number of elements.</summary>
    public static Tensor Mse(Tensor input, Tensor target)
    {
        if (input.Length != target.Length)
            throw new ArgumentException($"Mse: input {Tensor.ShapeString(input.Shape)} and target {Tensor.ShapeString(target.Shape)} differ in size.");
        int n = input.Length;
        double s = 0;
        var a = input.Span;
        var b = target.Span;
        for (int i = 0; i < n; i++)
        {
            double d = a[i] - b[i];
            s += d * d;
        }
        Tensor result = Tensor.Scalar((float)(s / n));
        if (Autograd.Tracks(input, target))
            Autograd.Record(result, "Mse", [input, target], g =>
            {
                float k = 2f * g.Span[0] / n;
                var diff = new float[n];
                TensorPrimitives.Subtract(input.Span, target.Span, diff);
                TensorPrimitives.Multiply(diff, k, diff);
                Autograd.Send(input, diff);
                if (target.RequiresGrad)
                {
                    TensorPrimitives.Negate(diff, diff);
                    Autograd.Send(target, diff);
                }
            });
        return result;
    }

    /// <summary>
    /// Binary cross-entropy on logits, mean over elements: max(x,0) − x·t + log(1 + exp(−|x|)), the numerically
    /// stable form of torch.nn.BCEWithLogitsLoss.
    /// </summary>
    public static Tensor BceWithLogits(Tensor logits, Tensor target)
    {
        if (logits.Length != target.Length)
            throw new ArgumentException($"BceWithLogits: logits {Tensor.ShapeString(logits.Shape)} and target {Tensor.ShapeString(target.Shape)} differ in size.");
        int n = logits.Length;
        double s = 0;
        var x = logits.Span;
        var t = target.Span;
        for (int i = 0; i < n; i++)
        {
            double xi = x[i];
            s += Math.Max(xi, 0) - xi * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(xi)));
        }
        Tensor result = Tensor.Scalar((float)(s / n));
        if (Autograd.Tracks(logits, target))
            Autograd.Record(result, "BceWithLogits", [logits, target], g =>
            {
                float k = g.Span[0] / n;
                var d = new float[n];
                var lx = logits.Span;
                var lt = target.Span;
                for (int i = 0; i < n; i++) d[i] = (1f / (1f + MathF.Exp(-lx[i])) - lt[i]) * k;
                Autograd.Send(logits, d);
                if (target.RequiresGrad)
                {
                    for (int i = 0; i < n; i++) d[i] = -lx[i] * k;
                    Autograd.Send(target, d);
                }
            });
        return result;
    }
}
