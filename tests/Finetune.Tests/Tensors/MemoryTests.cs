using System.Runtime.Intrinsics;
using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

/// <summary>What a training step frees early, and the buffer pool's reuse rules.</summary>
public class MemoryTests
{
    /// <summary>dense → dropout → + residual → LayerNorm, the shape of a BERT sub-layer; the intermediates are handed out.</summary>
    private static Tensor SubLayer(Linear dense, Finetune.Nn.LayerNorm norm, Tensor x, out Tensor denseOut, out Tensor sum)
    {
        denseOut = dense.Forward(x);
        sum = F.Add(F.Dropout(denseOut, 0.25f, training: true, new Generator(5)), x);
        return norm.Forward(sum);
    }

    private static (Linear Dense, Finetune.Nn.LayerNorm Norm, Tensor X) Setup()
    {
        var dense = new Linear(6, 6, rng: new Generator(1));
        var norm = new Finetune.Nn.LayerNorm(6);
        var x = Tensor.Randn(new Generator(2), 1f, 4, 6);
        x.RequiresGrad = true;
        return (dense, norm, x);
    }

    private static float[][] Grads(Linear dense, Finetune.Nn.LayerNorm norm, Tensor x) =>
        [dense.Weight.Grad!.ToArray(), dense.Bias!.Grad!.ToArray(), norm.Weight.Grad!.ToArray(), norm.Bias.Grad!.ToArray(), x.Grad!.ToArray()];

    [Fact]
    public void AStageFreesWhatBackwardNeverReadsAndBackwardFreesTheRestWithTheSameGradients()
    {
        var (dense, norm, x) = Setup();
        // Reference: the same ops outside a stage.
        F.Sum(F.Tanh(SubLayer(dense, norm, x, out _, out _))).Backward();
        var expected = Grads(dense, norm, x);
        foreach (var p in new[] { dense.Weight, dense.Bias!, norm.Weight, norm.Bias, x }) p.ZeroGrad();

        Tensor denseOut = null!, sum = null!;
        Tensor h = TensorScope.Stage(() => SubLayer(dense, norm, x, out denseOut, out sum));
        // Dropout's backward needs only its mask: the dense output is already back in the pool.
        Assert.Throws<ObjectDisposedException>(() => denseOut.Span[0]);
        // LayerNorm's backward reads its input: still there until that backward has run.
        Assert.False(float.IsNaN(sum.Span[0]));
        var loss = F.Sum(F.Tanh(h));
        loss.Backward();
        Assert.Throws<ObjectDisposedException>(() => sum.Span[0]);
        Assert.Equal(24, h.ToArray().Length); // the stage's output stays the caller's
        var actual = Grads(dense, norm, x);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
        // The freed graph cannot be replayed: the existing clear error, not a read of a released buffer.
        var e = Assert.Throws<FinetuneException>(() => loss.Backward());
        Assert.Contains("already freed", e.Message);
    }

    [Fact]
    public void GeluOutputIsRecomputedForBackwardWithTheSameBits()
    {
        var up = new Linear(6, 24, rng: new Generator(1));
        var down = new Linear(24, 6, rng: new Generator(2));
        var x = Tensor.Randn(new Generator(3), 2f, 5, 6);
        x.RequiresGrad = true;
        Tensor Ffn(out Tensor act)
        {
            act = F.Gelu(up.Forward(x));
            return down.Forward(act);
        }
        F.Sum(F.Tanh(Ffn(out _))).Backward();
        float[][] expected = [up.Weight.Grad!.ToArray(), down.Weight.Grad!.ToArray(), x.Grad!.ToArray()];
        foreach (var p in new[] { up.Weight, up.Bias!, down.Weight, down.Bias!, x }) p.ZeroGrad();

        Tensor act = null!;
        Tensor h;
        using (new RunContext(RunMode.Train, Activations: ActivationPolicy.RecomputeCheap).Enter())
            h = TensorScope.Stage(() => Ffn(out act));
        Assert.False(act.HoldsData); // the second dense layer's saved input, given back until backward reads it
        F.Sum(F.Tanh(h)).Backward();
        Assert.Throws<ObjectDisposedException>(() => act.Span[0]); // freed again once that backward ran
        float[][] actual = [up.Weight.Grad!.ToArray(), down.Weight.Grad!.ToArray(), x.Grad!.ToArray()];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void AStageOutputThatViewsAFreedIntermediateKeepsItsData()
    {
        var dense = new Linear(6, 6, rng: new Generator(1));
        var x = Tensor.Randn(new Generator(2), 1f, 4, 6);
        Tensor inner = null!;
        // The dense output is freed at the end of the stage (no backward reads it), but the reshaped view handed
        // out shares its buffer, which must stay until the view is disposed too.
        var h = TensorScope.Stage(() => F.Reshape(inner = dense.Forward(x), 24));
        Assert.Throws<ObjectDisposedException>(() => inner.Span[0]);
        var expected = new float[24];
        using (Tensor.NoGrad()) dense.Forward(x).Span.CopyTo(expected);
        Assert.Equal(expected, h.ToArray());
        F.Sum(F.Mul(h, h)).Backward();
        Assert.NotNull(dense.Weight.Grad);
    }

    [Fact]
    public void RetainGraphKeepsSavedIntermediatesForASecondBackward()
    {
        var (dense, norm, x) = Setup();
        F.Sum(F.Tanh(SubLayer(dense, norm, x, out _, out _))).Backward();
        var once = Grads(dense, norm, x);
        foreach (var p in new[] { dense.Weight, dense.Bias!, norm.Weight, norm.Bias, x }) p.ZeroGrad();

        Tensor sum = null!;
        var loss = F.Sum(F.Tanh(TensorScope.Stage(() => SubLayer(dense, norm, x, out _, out sum))));
        loss.Backward(retainGraph: true);
        Assert.False(float.IsNaN(sum.Span[0]));
        loss.Backward();
        Assert.Throws<ObjectDisposedException>(() => sum.Span[0]);
        var twice = Grads(dense, norm, x);
        for (int i = 0; i < once.Length; i++)
            for (int j = 0; j < once[i].Length; j++) Assert.True(Math.Abs(2 * once[i][j] - twice[i][j]) <= 1e-6f * (1 + Math.Abs(twice[i][j])), $"{2 * once[i][j]} vs {twice[i][j]}");
    }

    [Fact]
    public void DropoutKeepsBitsThatGiveExactlyTheFloatMasksOutputAndGradient()
    {
        // Three 64K chunks and a ragged tail, negative inputs (x·0 is −0), and an accumulated second gradient.
        const int n = 3 * 65536 + 1001;
        const float p = 0.1f;
        var x = Tensor.Randn(new Generator(3), 1f, n);
        x.RequiresGrad = true;
        var g = Tensor.Randn(new Generator(4), 1f, n);
        float[] mask = F.DropoutMask(n, p, new Generator(8)).ToArray();
        var y = F.Dropout(x, p, training: true, new Generator(8));
        y.Backward(g, retainGraph: true);
        y.Backward(g);
        float[] xs = x.ToArray(), ys = y.ToArray(), gs = g.ToArray(), gx = x.Grad!.ToArray();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(xs[i] * mask[i]), BitConverter.SingleToInt32Bits(ys[i]));
            float first = mask[i] * gs[i];
            Assert.Equal(BitConverter.SingleToInt32Bits(MathF.FusedMultiplyAdd(mask[i], gs[i], first)), BitConverter.SingleToInt32Bits(gx[i]));
        }
    }

    [Fact]
    public void ThePoolHandsAReturnedArrayToTheNextRequestOfASizeItServes()
    {
        // Odd sizes no other test asks for.
        float[] a = BufferPool.Rent(7_000_003, out _);
        BufferPool.Return(a);
        float[] b = BufferPool.Rent(6_000_001, out int offset);
        Assert.Same(a, b);
        Assert.Equal(0, (offset * sizeof(float) + (int)(GetAddress(b) & 63)) & 63);
        BufferPool.Return(b);
    }

    [Theory]
    [InlineData(1000, 1000, true)]
    [InlineData(1000, 1250, true)] // a quarter longer
    [InlineData(1000, 1251, false)]
    [InlineData(1000, 999, false)]
    [InlineData(65535, 65535 * 2, false)] // small requests never borrow much larger arrays
    [InlineData(65536, 65536 * 8, true)] // large ones (a gradient while activations sit idle) up to 8 times
    [InlineData(65536, 65536 * 8 + 1, false)]
    public void ThePoolServesARequestFromAnArrayUpToAQuarterLongerOrForLargeOnesEightTimes(int length, int capacity, bool accepted) =>
        Assert.Equal(accepted, BufferPool.Accepts(length, capacity));

    internal static unsafe long GetAddress(float[] arr)
    {
        fixed (float* p = arr) return (long)p;
    }
}

/// <summary>The dropout keep-bits against the float keep-mask (both lane paths; they switch a global, hence the collection).</summary>
[Collection("Parallelism")]
public class KeepBitsTests
{
    [Fact]
    public void KeepBitsAreTheKeepMasksDecisionsOnBothPaths()
    {
        bool saved = Generator.UseVector512;
        try
        {
            foreach (bool vector in Vector512.IsHardwareAccelerated ? new[] { true, false } : new[] { false })
                foreach (int count in new[] { 1, 15, 16, 17, 63, 64, 65, 1000 })
                {
                    const uint threshold = 3u << 30;
                    Generator.UseVector512 = false; // the one-lane-at-a-time mask is the reference
                    var floats = new float[count];
                    var a = new Generator(77);
                    a.FillKeepMask(floats, threshold, 2f);
                    Generator.UseVector512 = vector;
                    var words = new ulong[(count + 63) / 64];
                    var b = new Generator(77);
                    b.FillKeepBits(words, count, threshold);
                    for (int i = 0; i < count; i++) Assert.Equal(floats[i] != 0f, ((words[i / 64] >> (i % 64)) & 1) != 0);
                    if (count % 64 != 0) Assert.Equal(0UL, words[^1] >> (count % 64)); // nothing past the end
                    Assert.Equal(a.NextUInt64(), b.NextUInt64()); // both leave the generator at the same place
                }
        }
        finally
        {
            Generator.UseVector512 = saved;
        }
    }
}

/// <summary>The pool's footprint under changing shapes (reads the global pool, so it runs alone).</summary>
[Collection("Parallelism")]
public class PoolFootprintTests
{
    [Fact]
    public void BatchesOfChangingLengthKeepThePoolWithinAQuarterOverItsPeakUse()
    {
        var up = new Linear(32, 128, rng: new Generator(1));
        var down = new Linear(128, 32, rng: new Generator(2));
        var norm = new Finetune.Nn.LayerNorm(32);
        var rng = new Generator(3);
        BufferPool.Clear();
        long footprintBound = 0;
        for (int step = 0; step < 60; step++)
        {
            // Dynamic padding: every batch its own length, so most requests match no idle array exactly.
            int seq = 16 + rng.NextInt(240);
            using (TensorScope.Begin())
            {
                var x = Tensor.Randn(rng, 1f, 8, seq, 32);
                var h = TensorScope.Stage(() => norm.Forward(F.Add(down.Forward(F.Gelu(up.Forward(x))), x)));
                F.Mean(h).Backward();
            }
            foreach (var p in new[] { up.Weight, up.Bias!, down.Weight, down.Bias!, norm.Weight, norm.Bias }) p.ZeroGrad();
            long peak = BufferPool.MaxLiveFloats;
            footprintBound = Math.Max(footprintBound, peak + peak / 4);
            Assert.True(BufferPool.LiveFloats + BufferPool.IdleFloats <= footprintBound,
                $"step {step}: {BufferPool.LiveFloats} in use + {BufferPool.IdleFloats} idle > {footprintBound}");
        }
        // Without eviction the idle arrays of sixty different shapes would add up to many times the peak.
        Assert.True(BufferPool.IdleFloats <= BufferPool.MaxLiveFloats + BufferPool.MaxLiveFloats / 4);
    }
}
