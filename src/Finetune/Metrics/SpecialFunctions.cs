namespace Finetune.Metrics;

/// <summary>
/// Log-gamma, log-beta and the regularized incomplete beta function in float64, accurate to a few ulps in the
/// ranges correlation p-values need (Stirling series with the large terms cancelled analytically).
/// </summary>
internal static class SpecialFunctions
{
    private const double HalfLog2Pi = 0.91893853320467274178032973640562;

    // Stirling correction mu(z) = lnGamma(z) - [(z - 1/2) ln z - z + ln(2 pi)/2], valid for z >= 10.
    private static double StirlingCorrection(double z)
    {
        double z2 = 1.0 / (z * z);
        return (1.0 / 12 + z2 * (-1.0 / 360 + z2 * (1.0 / 1260 + z2 * (-1.0 / 1680 + z2 * (1.0 / 1188 + z2 * (-691.0 / 360360 + z2 * (1.0 / 156 + z2 * (-3617.0 / 122400)))))))) / z;
    }

    public static double LogGamma(double z)
    {
        if (z <= 0) throw new ArgumentOutOfRangeException(nameof(z));
        double shift = 0;
        double prod = 1;
        while (z < 10)
        {
            prod *= z;
            z += 1;
            if (prod > 1e250) { shift += Math.Log(prod); prod = 1; }
        }
        shift += Math.Log(prod);
        return (z - 0.5) * Math.Log(z) - z + HalfLog2Pi + StirlingCorrection(z) - shift;
    }

    /// <summary>ln B(a, b).</summary>
    public static double LogBeta(double a, double b)
    {
        if (a > b) (a, b) = (b, a);
        if (a >= 10)
        {
            // Both large: combine the Stirling forms so that no large terms cancel.
            double s = a + b;
            double delta = StirlingCorrection(a) + StirlingCorrection(b) - StirlingCorrection(s);
            return (a - 0.5) * Math.Log(a / s) + b * Math.Log(b / s) - 0.5 * Math.Log(b) + HalfLog2Pi + delta;
        }
        if (b >= 10)
        {
            // lnGamma(b) - lnGamma(a+b) via -(b - 1/2) log1p(a/b) - a ln(a+b) + a + mu(b) - mu(a+b).
            double s = a + b;
            double diff = -(b - 0.5) * Math.Log(1 + a / b) - a * Math.Log(s) + a + StirlingCorrection(b) - StirlingCorrection(s);
            if (a / b < 1e-3) diff = -(b - 0.5) * Log1p(a / b) - a * Math.Log(s) + a + StirlingCorrection(b) - StirlingCorrection(s);
            return LogGamma(a) + diff;
        }
        return LogGamma(a) + LogGamma(b) - LogGamma(a + b);
    }

    private static double Log1p(double x) => Math.Abs(x) < 1e-4 ? x - x * x / 2 + x * x * x / 3 - x * x * x * x / 4 : Math.Log(1 + x);

    /// <summary>
    /// Regularized incomplete beta I_x(a, b), with y = 1 - x given separately (as TOMS 708's bratio takes it) so
    /// that the tail near 1 keeps its precision.
    /// </summary>
    public static double IncompleteBeta(double a, double b, double x, double y)
    {
        if (x <= 0) return 0;
        if (y <= 0) return 1;
        if (x > (a + 1) / (a + b + 2)) return 1 - IncompleteBeta(b, a, y, x);
        double logPrefactor = a * Math.Log(x) + b * Math.Log(y) - LogBeta(a, b);
        return Math.Exp(logPrefactor) * BetaContinuedFraction(a, b, x) / a;
    }

    // Modified Lentz evaluation of the incomplete beta continued fraction.
    private static double BetaContinuedFraction(double a, double b, double x)
    {
        const double tiny = 1e-300;
        double qab = a + b, qap = a + 1, qam = a - 1;
        double c = 1, d = 1 - qab * x / qap;
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        double h = d;
        for (int m = 1; m <= 10000; m++)
        {
            int m2 = 2 * m;
            double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
            d = 1 + aa * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            h *= d * c;
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
            d = 1 + aa * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double del = d * c;
            h *= del;
            if (Math.Abs(del - 1) < 1e-16) break;
        }
        return h;
    }
}
