namespace Finetune.Metrics;

/// <summary>
/// Float64 reductions in the order numpy performs them, so that means and weighted averages round exactly as
/// sklearn/scipy results do (numpy's add.reduce uses an 8-way unrolled pairwise summation).
/// </summary>
internal static class NumpyMath
{
    private const int BlockSize = 128;

    public static double Sum(ReadOnlySpan<double> a) => 0.0 + PairwiseSum(a);

    public static double Mean(ReadOnlySpan<double> a) => Sum(a) / a.Length;

    private static double PairwiseSum(ReadOnlySpan<double> a)
    {
        int n = a.Length;
        if (n < 8)
        {
            double res = 0.0;
            for (int i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= BlockSize)
        {
            Span<double> r = stackalloc double[8];
            a[..8].CopyTo(r);
            int i = 8;
            for (; i < n - (n % 8); i += 8)
                for (int j = 0; j < 8; j++) r[j] += a[i + j];
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) res += a[i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }

    /// <summary>np.average(a, weights=w): sum(a*w)/sum(w).</summary>
    public static double WeightedAverage(ReadOnlySpan<double> a, ReadOnlySpan<double> w)
    {
        var prod = new double[a.Length];
        for (int i = 0; i < a.Length; i++) prod[i] = a[i] * w[i];
        return Sum(prod) / Sum(w);
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>
    /// Euclidean norm. The reference BLAS (OpenBLAS nrm2 on x86-64) accumulates the squares in extended precision,
    /// so the squares are summed here in double-double and rounded once.
    /// </summary>
    public static double Norm(ReadOnlySpan<double> a)
    {
        double hi = 0, lo = 0;
        foreach (double v in a)
        {
            double p = v * v;
            double pErr = Math.FusedMultiplyAdd(v, v, -p);
            double s = hi + p;
            double bb = s - hi;
            double sErr = (hi - (s - bb)) + (p - bb);
            hi = s;
            lo += sErr + pErr;
        }
        double total = hi + lo;
        double root = Math.Sqrt(total);
        if (root == 0) return 0;
        // One Newton correction with the low part keeps the result correctly rounded in nearly all cases.
        double residual = Math.FusedMultiplyAdd(-root, root, hi) + lo;
        return root + residual / (2 * root);
    }
}
