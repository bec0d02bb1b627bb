using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

public class FastMathTests
{
    [Fact]
    public void ExpIsWithinTwoUlpOfTheExactValueIncludingSubnormalsAndLimits()
    {
        var rng = new Generator(3);
        var x = new float[20011];
        for (int i = 0; i < x.Length; i++) x[i] = -110f + 200f * rng.NextFloat();
        float[] special = [0f, -0f, 1f, -1f, 88.72f, 88.7228f, 88.73f, 100f, -87.3f, -100f, -103.9f, -104f, -200f,
            float.MinValue, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, 1e-8f, -1e-8f];
        special.CopyTo(x, 0);
        var y = new float[x.Length];
        FastMath.Exp(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double exact = Math.Exp(x[i]);
            if (exact > float.MaxValue)
            {
                Assert.Equal(float.PositiveInfinity, y[i]);
                continue;
            }
            // 2 ulp relative for normal results; subnormal results within two steps of the subnormal grid.
            double tol = 2.4e-7 * exact + 3e-45;
            Assert.True(Math.Abs(y[i] - exact) <= tol, $"exp({x[i]}) = {y[i]}, exact {exact}");
        }
        Assert.True(float.IsNaN(FastMath.Exp(float.NaN)));
        Assert.Equal(0f, FastMath.Exp(float.MinValue));
    }

    [Fact]
    public void AValueGetsTheSameResultWhereverItSitsInASpan()
    {
        var rng = new Generator(4);
        var x = new float[53];
        for (int i = 0; i < x.Length; i++) x[i] = -20f + 40f * rng.NextFloat();
        var whole = new float[x.Length];
        FastMath.Exp(x, whole);
        for (int start = 0; start < x.Length; start += 7)
        {
            var part = new float[x.Length - start];
            FastMath.Exp(x.AsSpan(start), part);
            Assert.Equal(whole[start..], part);
        }
    }

    [Fact]
    public void ExpShiftedSumMatchesExpOfTheShiftedValuesAndTheirSum()
    {
        foreach (int n in new[] { 1, 15, 16, 17, 128, 131 })
        {
            var rng = new Generator((ulong)n);
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = -10f + 20f * rng.NextFloat();
            var y = new float[n];
            float sum = FastMath.ExpShiftedSum(x, 3f, y);
            double exactSum = 0;
            for (int i = 0; i < n; i++)
            {
                double e = Math.Exp(x[i] - 3f); // the shift is applied in float, as softmax does
                exactSum += e;
                Assert.True(Math.Abs(y[i] - e) <= 3e-7 * e, $"n={n}: exp({x[i]} - 3) = {y[i]}, exact {e}");
            }
            Assert.True(Math.Abs(sum - exactSum) <= 1e-6 * exactSum, $"n={n}: sum {sum}, exact {exactSum}");
        }
    }
}
