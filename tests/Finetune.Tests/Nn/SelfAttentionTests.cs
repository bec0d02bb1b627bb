using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tests.Models;

namespace Finetune.Tests.Nn;

/// <summary>
/// SelfAttention packs query/key/value into one GEMM only through Linear's own contract (Linear.Affine), so a layer
/// that overrides Forward is never bypassed: it opts out by default, or reaches the packed path by answering Affine.
/// The reference is attention over the three projections each computed by its own Forward.
/// </summary>
public class SelfAttentionTests
{
    private const int Hidden = 8, Heads = 2;

    /// <summary>An adapter that adds 0.5·x to its output and does not say how to pack it.</summary>
    private sealed class ShiftedLinear(int features, Generator rng) : Linear(features, features, true, 0.5f, rng)
    {
        public int Forwards { get; private set; }

        public override Tensor Forward(Tensor x)
        {
            Forwards++;
            return F.Add(base.Forward(x), F.Scale(x, 0.5f));
        }
    }

    /// <summary>The same adapter, which also answers its effective weight W + 0.5·I (built with autograd ops).</summary>
    private sealed class PackableShiftedLinear(int features, Generator rng) : Linear(features, features, true, 0.5f, rng)
    {
        public int Forwards { get; private set; }

        public override Tensor Forward(Tensor x)
        {
            Forwards++;
            return F.Add(base.Forward(x), F.Scale(x, 0.5f));
        }

        public override LinearAffine? Affine => new LinearAffine(F.Add(Weight, F.Scale(Identity(InFeatures), 0.5f)), Bias);
    }

    private static Tensor Identity(int n)
    {
        var t = Tensor.Zeros(n, n);
        for (int i = 0; i < n; i++) t.Span[i * n + i] = 1f;
        return t;
    }

    private static SelfAttention WithQuery(Linear query, Generator rng)
    {
        var attention = new SelfAttention(query, new Linear(Hidden, Hidden, true, 0.5f, rng), new Linear(Hidden, Hidden, true, 0.5f, rng), Heads, 0, ("query", "key", "value"));
        attention.Eval();
        return attention;
    }

    private static Tensor Input() => Tensor.Randn(new Generator(5), 1f, 2, 3, Hidden);

    private static float[] Reference(Linear q, Linear k, Linear v, Tensor h) =>
        F.MultiHeadAttention(q.Forward(h), k.Forward(h), v.Forward(h), Heads, null, 0f, false).ToArray();

    [Fact]
    public void PlainProjectionsArePackedAndGiveTheSeparateProjectionsAttention()
    {
        var attention = new SelfAttention(Hidden, Heads, 0, 0.5f, new Generator(1), ("query", "key", "value"));
        attention.Eval();
        Assert.NotNull(attention.Query.Affine);
        var h = Input();
        float[] packed = attention.Attend(h, null).ToArray();
        Close.Elementwise("packed vs separate", Reference(attention.Query, attention.Key, attention.Value, h), packed, 1e-6, 1e-5);
        Assert.Equal(["query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias"], attention.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void ALinearThatOverridesForwardAloneOptsOutOfThePackedPathAndIsCalled()
    {
        var rng = new Generator(2);
        var adapter = new ShiftedLinear(Hidden, rng);
        Assert.Null(adapter.Affine);
        var attention = WithQuery(adapter, rng);
        var h = Input();
        float[] got = attention.Attend(h, null).ToArray();
        Assert.Equal(1, adapter.Forwards);
        Close.Elementwise("adapter reached", Reference(adapter, attention.Key, attention.Value, h), got, 1e-6, 1e-5);
    }

    [Fact]
    public void ALinearThatAnswersItsEffectiveWeightIsPackedAndItsParametersGetGradients()
    {
        var rng = new Generator(3);
        var adapter = new PackableShiftedLinear(Hidden, rng);
        var attention = WithQuery(adapter, rng);
        var h = Input();
        h.RequiresGrad = true;
        Tensor got = attention.Attend(h, null);
        Assert.Equal(0, adapter.Forwards); // packed: the effective weight went into the one GEMM
        float[] reference = Reference(adapter, attention.Key, attention.Value, h);
        Close.Elementwise("packed adapter", reference, got.ToArray(), 1e-6, 1e-5);
        F.Sum(got).Backward();
        Assert.NotNull(adapter.Weight.Grad);
        Assert.NotNull(adapter.Bias!.Grad);
    }

    [Fact]
    public void TheSeparateImplementationCallsEachProjectionAndGivesTheSameAttention()
    {
        var rng = new Generator(4);
        var adapter = new PackableShiftedLinear(Hidden, rng);
        var attention = WithQuery(adapter, rng);
        var h = Input();
        float[] got;
        using (new RunContext(RunMode.Eval, Attention: AttentionImplementation.Separate).Enter())
            got = attention.Attend(h, null).ToArray();
        Assert.Equal(1, adapter.Forwards); // not packed, though the adapter could be
        Assert.Equal(Reference(adapter, attention.Key, attention.Value, h), got);
    }
}
