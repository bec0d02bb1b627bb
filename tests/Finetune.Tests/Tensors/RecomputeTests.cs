using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

/// <summary>
/// Activations given back after the forward pass and formed again when backward reads them (LayerNorm's output,
/// attention's probabilities and output), and gradients packed into shared pool arrays. The reference each time is
/// the same computation holding everything: gradients must match it bit for bit. (Reads the global pool, hence
/// the collection.)
/// </summary>
[Collection("Parallelism")]
public class RecomputeTests
{
    private static T With<T>(bool recompute, Func<T> body)
    {
        var policy = recompute ? ActivationPolicy.RecomputeCheap : ActivationPolicy.Keep;
        using (new RunContext(RunMode.Train, Activations: policy).Enter())
            return body();
    }

    private static Finetune.Nn.LayerNorm Norm(int d, int seed)
    {
        var n = new Finetune.Nn.LayerNorm(d);
        new Generator((ulong)seed).FillUniform(n.Weight.Span, 0.5f, 1.5f);
        new Generator((ulong)seed + 1).FillUniform(n.Bias.Span, -0.5f, 0.5f);
        return n;
    }

    /// <summary>A BERT-like layer: LayerNorm(GELU(dense(h)) + h).</summary>
    private static Tensor Layer(Linear dense, Finetune.Nn.LayerNorm norm, Tensor h) =>
        F.AddLayerNorm(F.Gelu(dense.Forward(h)), h, norm.Weight, norm.Bias, norm.Eps);

    private static void AssertSameBits(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (int j = 0; j < expected[i].Length; j++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i][j]) == BitConverter.SingleToInt32Bits(actual[i][j]),
                    $"tensor {i}, element {j}: {expected[i][j]} kept, {actual[i][j]} recomputed");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ALayerOutputIsGivenBackOnceTheNextStageHasReadItAndFormedAgainWithTheSameBits(bool frozenNextLayer)
    {
        var d1 = new Linear(8, 8, rng: new Generator(1));
        var d2 = new Linear(8, 8, rng: new Generator(2));
        var n1 = Norm(8, 3);
        var n2 = Norm(8, 5);
        if (frozenNextLayer)
        {
            // Nothing in backward reads h1 then; a caller holding it (a hidden state) must still find its values.
            d2.Weight.RequiresGrad = false;
            d2.Bias!.RequiresGrad = false;
        }
        var x = Tensor.Randn(new Generator(7), 1f, 3, 8);
        x.RequiresGrad = true;
        Tensor[] learned = frozenNextLayer ? [d1.Weight, n1.Weight, n1.Bias, n2.Weight, x] : [d1.Weight, d2.Weight, n1.Weight, n1.Bias, n2.Weight, x];

        // Reference: no stages, everything held.
        Tensor h1Ref = Layer(d1, n1, x);
        float[] h1Expected = h1Ref.ToArray();
        F.Sum(F.Tanh(Layer(d2, n2, h1Ref))).Backward();
        float[][] expected = learned.Select(t => t.Grad!.ToArray()).ToArray();
        foreach (var p in learned.Concat([d1.Bias!, n2.Bias])) p.ZeroGrad();

        var (h1, h2) = With(true, () =>
        {
            Tensor a = TensorScope.Stage(() => Layer(d1, n1, x));
            Assert.True(a.HoldsData); // the next stage reads it
            Tensor b = TensorScope.Stage(a, h => Layer(d2, n2, h));
            return (a, b);
        });
        Assert.False(h1.HoldsData); // given back until backward reads it
        F.Sum(F.Tanh(h2)).Backward();
        AssertSameBits(expected, learned.Select(t => t.Grad!.ToArray()).ToArray());
        Assert.Equal(h1Expected, h1.ToArray()); // still the caller's after backward
    }

    [Fact]
    public void ALayerOutputReadBetweenForwardAndBackwardIsFormedAgainWithTheSameBits()
    {
        var d1 = new Linear(8, 8, rng: new Generator(1));
        var d2 = new Linear(8, 8, rng: new Generator(2));
        var x = Tensor.Randn(new Generator(7), 1f, 3, 8);
        float[] expected = Layer(d1, Norm(8, 3), x).ToArray();
        x.RequiresGrad = true;
        var h1 = With(true, () =>
        {
            Tensor a = TensorScope.Stage(() => Layer(d1, Norm(8, 3), x));
            TensorScope.Stage(a, h => Layer(d2, Norm(8, 5), h));
            return a;
        });
        Assert.False(h1.HoldsData);
        Assert.Equal(expected, h1.ToArray());
        Assert.True(h1.HoldsData);
    }

    [Fact]
    public void WithoutRecomputeTheLayerOutputIsHeld()
    {
        var d1 = new Linear(8, 8, rng: new Generator(1));
        var d2 = new Linear(8, 8, rng: new Generator(2));
        var x = Tensor.Randn(new Generator(7), 1f, 3, 8);
        x.RequiresGrad = true;
        var h1 = With(false, () =>
        {
            Tensor a = TensorScope.Stage(() => Layer(d1, Norm(8, 3), x));
            TensorScope.Stage(a, h => Layer(d2, Norm(8, 5), h));
            return a;
        });
        Assert.True(h1.HoldsData);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AttentionFormedAgainInBackwardGivesTheGradientsOfKeptProbabilities(bool packed)
    {
        // Width 16 and 4 tokens: 4 · seq ≤ width, where attention recomputes (with dropout and a padded row).
        const int batch = 2, seq = 4, heads = 2, width = 16;
        var mask = IntTensor.FromArray([1, 1, 1, 1, 1, 1, 0, 0], batch, seq);
        var proj = new Linear(width, width, rng: new Generator(1));
        var qkv = Tensor.Randn(new Generator(2), 1f, batch, seq, 3 * width);
        qkv.RequiresGrad = true;
        Tensor[] qkvSplit = [Tensor.Randn(new Generator(3), 1f, batch, seq, width), Tensor.Randn(new Generator(4), 1f, batch, seq, width),
            Tensor.Randn(new Generator(5), 1f, batch, seq, width)];
        foreach (var t in qkvSplit) t.RequiresGrad = true;
        Tensor[] inputs = packed ? [qkv] : qkvSplit;

        (float[][] Grads, bool OutputHeld) Run(bool recompute) => With(recompute, () =>
        {
            foreach (var p in inputs.Concat([proj.Weight, proj.Bias!])) p.ZeroGrad();
            Tensor ctx = null!;
            Tensor y = TensorScope.Stage(() =>
            {
                var rng = new Generator(11);
                ctx = packed
                    ? F.MultiHeadAttentionPacked(qkv, heads, mask, 0.2f, training: true, rng)
                    : F.MultiHeadAttention(qkvSplit[0], qkvSplit[1], qkvSplit[2], heads, mask, 0.2f, training: true, rng);
                return proj.Forward(ctx);
            });
            bool held = ctx.HoldsData;
            F.Sum(F.Tanh(y)).Backward();
            return (inputs.Concat([proj.Weight]).Select(t => t.Grad!.ToArray()).ToArray(), held);
        });

        var kept = Run(false);
        var recomputed = Run(true);
        AssertSameBits(kept.Grads, recomputed.Grads);
        Assert.True(kept.OutputHeld);
        Assert.Equal(!packed, recomputed.OutputHeld); // the packed form's output is formed again for the projection's backward
    }

    [Fact]
    public void GradientsArePackedOneAfterAnotherIntoAnIdleArrayThatGoesBackWhenAllAreReturned()
    {
        BufferPool.Clear();
        float[] big = BufferPool.Rent(1_000_003, out _);
        BufferPool.Return(big);
        long idle = BufferPool.IdleFloats;
        var pieces = new List<int>();
        for (int i = 0; i < 5; i++)
        {
            float[] a = BufferPool.RentPacked(10_007, out int offset);
            Assert.Same(big, a);
            pieces.Add(offset);
        }
        Assert.Equal(idle - 1_000_003, BufferPool.IdleFloats); // the shared array is in use as a whole
        for (int i = 0; i < pieces.Count; i++)
        {
            Assert.Equal(0, (MemoryTests.GetAddress(big) + pieces[i] * sizeof(float)) & 63); // each on a 64-byte boundary
            if (i > 0) Assert.True(pieces[i] >= pieces[i - 1] + 10_007, $"piece {i} at {pieces[i]} overlaps piece {i - 1} at {pieces[i - 1]}");
        }
        Assert.True(pieces[^1] + 10_007 <= big.Length);
        for (int i = 0; i < 4; i++) BufferPool.Return(big);
        Assert.Equal(idle - 1_000_003, BufferPool.IdleFloats); // one piece still out
        BufferPool.Return(big);
        Assert.Equal(idle, BufferPool.IdleFloats); // idle again, for any request
        Assert.Same(big, BufferPool.Rent(1_000_000, out _));
        BufferPool.Return(big);
    }
}
