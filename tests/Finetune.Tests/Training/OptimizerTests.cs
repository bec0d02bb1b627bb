using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Training;

namespace Finetune.Tests.Training;

public class OptimizerTests
{
    private sealed class Toy : Module
    {
        public Toy()
        {
            Dense = Register("dense", new Linear(2, 2));
            Norm = Register("LayerNorm", new LayerNorm(2));
            Scale = Parameter("scale", Tensor.Ones(1));
        }

        public Linear Dense { get; }
        public LayerNorm Norm { get; }
        public Tensor Scale { get; }
    }

    private sealed class Wrapper : Module
    {
        public Wrapper()
        {
            // A LayerNorm registered under a name without "norm" in it is still excluded: grouping is by type.
            Register("inner", new Toy());
            Register("final_block", new LayerNorm(3));
        }
    }

    [Fact]
    public void TrainerGroupsExcludeBiasesAndLayerNormParametersByModuleType()
    {
        var (decay, noDecay) = OptimizerUtils.TrainerParamGroups(new Wrapper(), 0.01);
        Assert.Equal(new[] { "inner.dense.weight", "inner.scale" }, decay.Parameters.Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal(new[] { "final_block.bias", "final_block.weight", "inner.LayerNorm.bias", "inner.LayerNorm.weight", "inner.dense.bias" },
            noDecay.Parameters.Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal(0.01, decay.WeightDecay);
        Assert.Equal(0.0, noDecay.WeightDecay);
    }

    [Fact]
    public void AdamWMatchesTheTorchFormulaWorkedInDouble()
    {
        // Hand-worked AdamW (torch semantics) in float64 for one parameter over three steps with changing grads.
        var p = Tensor.FromArray(new[] { 0.5f, -1.25f }, 2);
        p.RequiresGrad = true;
        var group = new ParamGroup(new[] { ("w", p) }, weightDecay: 0.1);
        var opt = new AdamW(new[] { group }, lr: 0.01);
        double[] pd = { 0.5, -1.25 }, m = new double[2], v = new double[2];
        float[][] grads = { new[] { 0.3f, -0.02f }, new[] { -0.1f, 0.05f }, new[] { 0.2f, 0.0f } };
        double[] lrs = { 0.0, 0.01, 0.005 };
        for (int s = 0; s < 3; s++)
        {
            p.Grad = Tensor.FromArray((float[])grads[s].Clone(), 2);
            opt.SetLr(lrs[s]);
            opt.Step();
            int t = s + 1;
            for (int i = 0; i < 2; i++)
            {
                double g = grads[s][i];
                pd[i] *= 1 - lrs[s] * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(0.999, t)) + 1e-8;
                pd[i] -= lrs[s] / (1 - Math.Pow(0.9, t)) * m[i] / denom;
            }
            for (int i = 0; i < 2; i++) Assert.Equal(pd[i], p.Span[i], 6);
        }
        // The first step used lr 0 (warmup): the parameter did not move but the moments advanced.
        Assert.Equal(3, opt.StepCounts["w"]);
    }

    [Fact]
    public void VectorisedAdamWUpdateEqualsTheScalarOneBitForBit()
    {
        var rng = new Random(5);
        int n = 1000 + 7;
        float[] Rand(double scale) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * scale)).ToArray();
        float[] p = Rand(2), g = Rand(0.1), m = Rand(0.01), v = Rand(0.001).Select(Math.Abs).ToArray();
        float[] p2 = (float[])p.Clone(), m2 = (float[])m.Clone(), v2 = (float[])v.Clone();
        AdamW.UpdateDecoupled(p, g, m, v, 0.99999f, 0.9f, 0.1f, 0.999f, 0.001f, 0.05f, 1e-8f, -1e-3f);
        for (int i = 0; i < n; i++) // one element at a time: the scalar path only
            AdamW.UpdateDecoupled(p2.AsSpan(i, 1), g.AsSpan(i, 1), m2.AsSpan(i, 1), v2.AsSpan(i, 1), 0.99999f, 0.9f, 0.1f, 0.999f, 0.001f, 0.05f, 1e-8f, -1e-3f);
        Assert.Equal(p2, p);
        Assert.Equal(m2, m);
        Assert.Equal(v2, v);
    }

    [Fact]
    public void SgdWithMomentumFollowsTorch()
    {
        var p = Tensor.FromArray(new[] { 1.0f }, 1);
        var opt = new Sgd(new[] { new ParamGroup(new[] { ("w", p) }, 0.0) }, lr: 0.1, momentum: 0.9);
        // torch: buf1 = g1 = 1; p = 1 - 0.1 = 0.9; buf2 = 0.9*1 + 0.5 = 1.4; p = 0.9 - 0.14 = 0.76.
        p.Grad = Tensor.FromArray(new[] { 1.0f }, 1);
        opt.Step();
        Assert.Equal(0.9f, p.Span[0], 6);
        p.Grad = Tensor.FromArray(new[] { 0.5f }, 1);
        opt.Step();
        Assert.Equal(0.76f, p.Span[0], 6);
    }

    [Fact]
    public void ClipGradNormScalesByMaxNormOverTotalPlusEpsilon()
    {
        var a = Tensor.FromArray(new[] { 3f }, 1);
        var b = Tensor.FromArray(new[] { 0f, 4f }, 2);
        a.Grad = Tensor.FromArray(new[] { 3f }, 1);
        b.Grad = Tensor.FromArray(new[] { 0f, 4f }, 2);
        float total = OptimizerUtils.ClipGradNorm(new[] { a, b }, 1.0);
        Assert.Equal(5f, total);
        float coef = 1f / (5f + 1e-6f);
        Assert.Equal(3f * coef, a.Grad!.Span[0]);
        Assert.Equal(4f * coef, b.Grad!.Span[1]);
        // Below the limit nothing changes.
        Assert.Equal(5f * coef, OptimizerUtils.ClipGradNorm(new[] { a, b }, 10.0), 6);
        Assert.Equal(3f * coef, a.Grad!.Span[0]);
    }

    [Fact]
    public void ClipGradNormOverLargeTensorsWithTailsScalesEveryElement()
    {
        // 3 x 100,003 halves and one 5 x 5 of twos: every partial sum is a multiple of 0.25 below 2^24, so exact in
        // float32 whatever the lane order; total = sqrt(3 * 100003 * 0.25 + 25 * 4).
        var tensors = new List<Tensor>();
        for (int t = 0; t < 3; t++)
        {
            var p = Tensor.Zeros(100003);
            var g = new float[100003];
            Array.Fill(g, 0.5f);
            p.Grad = Tensor.FromArray(g, g.Length);
            tensors.Add(p);
        }
        var last = Tensor.Zeros(5, 5);
        var twos = new float[25];
        Array.Fill(twos, 2f);
        last.Grad = Tensor.FromArray(twos, 5, 5);
        tensors.Add(last);
        float expected = MathF.Sqrt(3 * 100003 * 0.25f + 100f);
        Assert.Equal(expected, OptimizerUtils.ClipGradNorm(tensors, 2.0));
        float coef = 1f / (expected + 1e-6f) * 2f;
        foreach (var t in tensors.Take(3))
            Assert.All(t.Grad!.Span.ToArray(), x => Assert.Equal(0.5f * coef, x));
        Assert.All(last.Grad!.Span.ToArray(), x => Assert.Equal(2f * coef, x));
    }
}
