namespace Finetune.Metrics;

/// <summary>A correlation coefficient and its two-sided p-value.</summary>
public readonly record struct CorrelationResult(double Statistic, double PValue);

/// <summary>Pearson and Spearman correlation as scipy 1.10 computes them (float64; average ranks for ties).</summary>
public static class RegressionMetrics
{
    public static CorrelationResult Pearson(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int n = Check(x, y);
        if (IsConstant(x) || IsConstant(y)) return new(double.NaN, double.NaN);
        if (n == 2) return new(Math.Sign(x[1] - x[0]) * Math.Sign(y[1] - y[0]), 1.0);
        double xMean = NumpyMath.Mean(x), yMean = NumpyMath.Mean(y);
        var xm = new double[n];
        var ym = new double[n];
        for (int i = 0; i < n; i++) { xm[i] = x[i] - xMean; ym[i] = y[i] - yMean; }
        double nx = NumpyMath.Norm(xm), ny = NumpyMath.Norm(ym);
        for (int i = 0; i < n; i++) { xm[i] /= nx; ym[i] /= ny; }
        double r = Math.Max(Math.Min(NumpyMath.Dot(xm, ym), 1.0), -1.0);
        // Under the null hypothesis r follows Beta(n/2-1, n/2-1) on (-1, 1): p = 2 * sf(|r|).
        double ab = n / 2.0 - 1;
        double u = (Math.Abs(r) + 1) / 2;
        double p = 2 * SpecialFunctions.IncompleteBeta(ab, ab, 1 - u, u);
        return new(r, p);
    }

    public static CorrelationResult Spearman(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int n = Check(x, y);
        double[] rx = Rank(x), ry = Rank(y);
        if (IsConstant(rx) || IsConstant(ry)) return new(double.NaN, double.NaN);
        // np.corrcoef: covariance of the centered ranks, divided by both standard deviations.
        double mx = NumpyMath.Mean(rx), my = NumpyMath.Mean(ry);
        for (int i = 0; i < n; i++) { rx[i] -= mx; ry[i] -= my; }
        double fact = n - 1;
        double cxy = NumpyMath.Dot(rx, ry) / fact, cxx = NumpyMath.Dot(rx, rx) / fact, cyy = NumpyMath.Dot(ry, ry) / fact;
        double rs = cxy / Math.Sqrt(cxx) / Math.Sqrt(cyy);
        rs = Math.Max(Math.Min(rs, 1.0), -1.0);
        double dof = n - 2;
        double t2 = dof / ((rs + 1.0) * (1.0 - rs));
        if (double.IsNaN(t2) || t2 < 0) t2 = 0;
        double t = rs * Math.Sqrt(t2);
        if (double.IsInfinity(t)) return new(rs, 0.0);
        // Two-sided Student-t tail: 2 * stdtr(dof, -|t|) = I_{dof/(dof+t^2)}(dof/2, 1/2).
        double tt = t * t;
        double xx = dof / (dof + tt), yy = tt / (dof + tt);
        return new(rs, SpecialFunctions.IncompleteBeta(0.5 * dof, 0.5, xx, yy));
    }

    /// <summary>Ranks 1..n, ties receiving the average of their ranks (scipy.stats.rankdata 'average').</summary>
    public static double[] Rank(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = values.ToArray();
        Array.Sort(order, (i, j) => keys[i] != keys[j] ? keys[i].CompareTo(keys[j]) : i.CompareTo(j));
        var ranks = new double[n];
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && keys[order[j + 1]] == keys[order[i]]) j++;
            double avg = 0.5 * ((i + 1) + (j + 1));
            for (int k = i; k <= j; k++) ranks[order[k]] = avg;
            i = j + 1;
        }
        return ranks;
    }

    private static bool IsConstant(ReadOnlySpan<double> v)
    {
        foreach (double e in v) if (e != v[0]) return false;
        return true;
    }

    private static int Check(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length)
            throw FinetuneException.Invalid($"The vectors differ in length: {x.Length} labels but {y.Length} predictions.");
        if (x.Length < 2) throw FinetuneException.Invalid("A correlation needs at least two values.");
        return x.Length;
    }
}
