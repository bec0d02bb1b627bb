namespace Finetune.Tests.Tensors;

/// <summary>
/// Plain double-precision implementations of each op, written straight from the PyTorch / transformers
/// definitions. The gradient tests differentiate these numerically; the forward tests compare against them.
/// </summary>
internal static class Reference
{
    public static double[] Linear(double[] x, double[] w, double[]? b, int inF, int outF)
    {
        int n = x.Length / inF;
        var y = new double[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?[o] ?? 0;
                for (int k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
                y[i * outF + o] = s;
            }
        return y;
    }

    public static double[] LayerNorm(double[] x, double[] w, double[] b, int d, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / d; r++)
        {
            double mean = 0, var = 0;
            for (int j = 0; j < d; j++) mean += x[r * d + j];
            mean /= d;
            for (int j = 0; j < d; j++) var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
            var /= d;
            double rstd = 1 / Math.Sqrt(var + eps);
            for (int j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - mean) * rstd * w[j] + b[j];
        }
        return y;
    }

    /// <summary>erf in double: Taylor series for |x| &lt; 2, the erfc continued fraction beyond (both ~1e-15).</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax >= 2)
        {
            double f = ax;
            for (int n = 80; n >= 1; n--) f = ax + n / 2.0 / f;
            return Math.Sign(x) * (1 - Math.Exp(-ax * ax) / (Math.Sqrt(Math.PI) * f));
        }
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            double t = term / (2 * n + 1);
            sum += t;
            if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    public static double[] Map(double[] x, Func<double, double> f)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = f(x[i]);
        return y;
    }

    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    public static double GeluNew(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double[] Softmax(double[] x, int d)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / d; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < d; j++) max = Math.Max(max, x[r * d + j]);
            for (int j = 0; j < d; j++) sum += y[r * d + j] = Math.Exp(x[r * d + j] - max);
            for (int j = 0; j < d; j++) y[r * d + j] /= sum;
        }
        return y;
    }

    /// <summary>transformers eager attention: softmax(q·kᵀ·scale + (1−mask)·finfo.min)·v, dropout on the probabilities.</summary>
    public static double[] Attention(double[] q, double[] k, double[] v, int b, int h, int tq, int tk, int d, int dv,
        int[]? mask, float[]? dropMask, double scale)
    {
        var y = new double[b * h * tq * dv];
        var s = new double[tk];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
            {
                int bh = bi * h + hi;
                for (int i = 0; i < tq; i++)
                {
                    for (int j = 0; j < tk; j++)
                    {
                        double dot = 0;
                        for (int l = 0; l < d; l++) dot += q[(bh * tq + i) * d + l] * k[(bh * tk + j) * d + l];
                        s[j] = dot * scale + (mask != null && mask[bi * tk + j] == 0 ? float.MinValue : 0);
                    }
                    var p = Softmax(s, tk);
                    for (int j = 0; j < tk; j++)
                    {
                        double a = p[j] * (dropMask?[(bh * tq + i) * tk + j] ?? 1f);
                        for (int l = 0; l < dv; l++) y[(bh * tq + i) * dv + l] += a * v[(bh * tk + j) * dv + l];
                    }
                }
            }
        return y;
    }

    /// <summary>torch.nn.functional.cross_entropy(reduction="mean", ignore_index, label_smoothing, weight).</summary>
    public static double CrossEntropy(double[] logits, int[] labels, int c, int ignore, double eps, double[]? w)
    {
        double nll = 0, smooth = 0, norm = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] == ignore) continue;
            var row = new double[c];
            Array.Copy(logits, i * c, row, 0, c);
            double max = row.Max(), lse = max + Math.Log(row.Sum(z => Math.Exp(z - max)));
            double wy = w?[labels[i]] ?? 1;
            norm += wy;
            nll += wy * (lse - row[labels[i]]);
            for (int j = 0; j < c; j++) smooth += (w?[j] ?? 1) * (lse - row[j]);
        }
        return (1 - eps) * nll / norm + eps / c * smooth / norm;
    }

    public static double Bce(double[] x, double[] t)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double sig = 1 / (1 + Math.Exp(-x[i]));
            s += -(t[i] * Math.Log(sig) + (1 - t[i]) * Math.Log(1 - sig));
        }
        return s / x.Length;
    }
}
