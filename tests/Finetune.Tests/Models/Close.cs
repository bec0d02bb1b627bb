namespace Finetune.Tests.Models;

/// <summary>Tolerance checks that name the tensor and the worst element when they fail.</summary>
internal static class Close
{
    /// <summary>|a − e| ≤ abs + rel·|e| for every element.</summary>
    public static void Elementwise(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double abs, double rel)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double excess = Math.Abs(actual[i] - expected[i]) - (abs + rel * Math.Abs(expected[i]));
            if (double.IsNaN(actual[i]) || excess > worstExcess)
            {
                worst = i;
                worstExcess = double.IsNaN(actual[i]) ? double.PositiveInfinity : excess;
            }
        }
        Assert.True(worst < 0, worst < 0 ? "" : $"{what}: element {worst} is {actual[worst]}, expected {expected[worst]} (beyond tolerance by {worstExcess:g3})");
    }

    /// <summary>Gradient check, per element: |a − e| ≤ 1e-6 + 1e-3·|e| (the golden README's bound, without the max-abs relaxation).</summary>
    public static void Gradient(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual) => Elementwise(what, expected, actual, 1e-6, 1e-3);

    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
