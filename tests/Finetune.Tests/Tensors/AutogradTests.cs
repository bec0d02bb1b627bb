using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Tests.Tensors;

public class AutogradTests
{
    private static Tensor Leaf(float[] v, params int[] shape)
    {
        var t = Tensor.FromArray(v, shape);
        t.RequiresGrad = true;
        return t;
    }

    [Fact]
    public void GradientsAccumulateAcrossBackwardCallsUntilZeroGrad()
    {
        var w = Leaf([1f, 2f, 3f], 3);
        var x = Tensor.FromArray([4f, 5f, 6f], 3);
        // L = Σ w·x → dL/dw = x
        F.Sum(F.Mul(w, x)).Backward();
        Assert.Equal(new[] { 4f, 5f, 6f }, w.Grad!.ToArray());
        F.Sum(F.Mul(w, x)).Backward();
        Assert.Equal(new[] { 8f, 10f, 12f }, w.Grad!.ToArray());
        w.ZeroGrad();
        Assert.Null(w.Grad);
        F.Sum(F.Scale(w, 2f)).Backward();
        Assert.Equal(new[] { 2f, 2f, 2f }, w.Grad!.ToArray());
    }

    [Fact]
    public void GradientOfSharedInputSumsOverAllUses()
    {
        var x = Leaf([3f], 1);
        // L = x·x + 2x → dL/dx = 2x + 2 = 8
        var l = F.Add(F.Mul(x, x), F.Scale(x, 2f));
        F.Sum(l).Backward();
        Assert.Equal(8f, x.Grad!.Item());
    }

    [Fact]
    public void GradAccumulatedHookSeesEachLeafsFinalGradientOnceLaterLeavesFirst()
    {
        var w1 = Leaf([1f, 2f, 3f], 3);
        var w2 = Leaf([0.5f, -1f, 2f], 3);
        var x = Tensor.FromArray([4f, 5f, 6f], 3);
        var seen = new List<(string Name, float[] Grad)>();
        w1.GradAccumulated = t => seen.Add(("w1", t.Grad!.ToArray()));
        w2.GradAccumulated = t => seen.Add(("w2", t.Grad!.ToArray()));
        // L = Σ (w1·x + w1·w1)·w2: w1 is read twice, so its gradient is final only after both uses.
        // dL/dw2 = w1·x + w1² = [5, 14, 27]; dL/dw1 = w2·(x + 2 w1) = [3, -9, 24].
        F.Sum(F.Mul(F.Add(F.Mul(w1, x), F.Mul(w1, w1)), w2)).Backward();
        Assert.Equal(["w2", "w1"], seen.Select(s => s.Name));
        Assert.Equal(new[] { 5f, 14f, 27f }, seen[0].Grad);
        Assert.Equal(new[] { 3f, -9f, 24f }, seen[1].Grad);
        Assert.Equal(seen[1].Grad, w1.Grad!.ToArray());
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        var w = Leaf([1f, 2f], 2);
        Tensor y;
        using (Tensor.NoGrad())
        {
            Assert.False(Tensor.IsGradEnabled);
            y = F.Sum(F.Mul(w, w));
        }
        Assert.True(Tensor.IsGradEnabled);
        Assert.False(y.RequiresGrad);
        Assert.True(y.IsLeaf);
        Assert.Equal(5f, y.Item());
        Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Null(w.Grad);
    }

    [Fact]
    public void ReusingAFreedGraphThrowsAClearError()
    {
        var w = Leaf([1f, 2f], 2);
        var h = F.Tanh(w);
        var loss = F.Sum(h);
        loss.Backward();
        var e = Assert.Throws<FinetuneException>(() => loss.Backward());
        Assert.Contains("already freed", e.Message);
        // A new graph built on a tensor of the freed one also fails, naming the op.
        var e2 = Assert.Throws<FinetuneException>(() => F.Sum(F.Scale(h, 2f)).Backward());
        Assert.Contains("Tanh", e2.Message);
    }

    [Fact]
    public void RetainGraphAllowsASecondBackward()
    {
        var w = Leaf([0.5f], 1);
        var loss = F.Sum(F.Tanh(w));
        loss.Backward(retainGraph: true);
        loss.Backward();
        float d = 1f - MathF.Tanh(0.5f) * MathF.Tanh(0.5f);
        Assert.Equal(2 * d, w.Grad!.Item(), 6);
    }

    [Fact]
    public void OnlyLeavesThatRequireGradReceiveGradients()
    {
        var w = Leaf([1f, -1f], 2);
        var c = Tensor.FromArray([2f, 3f], 2);
        var y = F.Relu(F.Mul(w, c));
        F.Sum(y).Backward();
        Assert.Null(c.Grad);
        Assert.Null(y.Grad);
        Assert.Equal(new[] { 2f, 0f }, w.Grad!.ToArray());
    }

    [Fact]
    public void BackwardNeedsAScalarOrAnExplicitGradient()
    {
        var w = Leaf([1f, 2f], 2);
        var y = F.Scale(w, 3f);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
        y.Backward(Tensor.FromArray([1f, 10f], 2));
        Assert.Equal(new[] { 3f, 30f }, w.Grad!.ToArray());
    }

    [Fact]
    public void ReshapeIsAViewSharingData()
    {
        var x = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        var v = x.Reshape(3, -1);
        Assert.Equal(new[] { 3, 2 }, v.Shape);
        x.Span[5] = 60f;
        Assert.Equal(60f, v.Span[5]);
    }

    [Fact]
    public void BuffersAre64ByteAligned()
    {
        foreach (int n in new[] { 1, 7, 100, 4097 })
        {
            var t = Tensor.Zeros(n);
            unsafe
            {
                Assert.Equal(0, (long)t.Data % 64);
            }
        }
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndSeededInTraining()
    {
        var x = Tensor.Ones(1000);
        Assert.Same(x, F.Dropout(x, 0.5f, training: false));
        var a = F.Dropout(x, 0.5f, true, new Generator(11)).ToArray();
        var b = F.Dropout(x, 0.5f, true, new Generator(11)).ToArray();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(v == 0f || v == 2f));
        int kept = a.Count(v => v != 0);
        Assert.InRange(kept, 420, 580);
    }

    [Fact]
    public void CrossEntropyMatchesHandWorkedValues()
    {
        // log(e¹ + e² + e³) − 3 = 0.40760596
        var logits = Tensor.FromArray([1f, 2f, 3f], 1, 3);
        Assert.Equal(0.40760596f, F.CrossEntropy(logits, IntTensor.FromArray([2])).Item(), 6);
        // Label smoothing 0.1: 0.9·nll + 0.1/3·Σ_c −log p_c
        double lse = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3));
        double expected = 0.9 * (lse - 3) + 0.1 / 3 * (3 * lse - 6);
        Assert.Equal((float)expected, F.CrossEntropy(logits, IntTensor.FromArray([2]), labelSmoothing: 0.1f).Item(), 6);
        // All labels ignored → NaN, as PyTorch.
        Assert.True(float.IsNaN(F.CrossEntropy(logits, IntTensor.FromArray([-100])).Item()));
    }

    [Fact]
    public void AttentionIgnoresMaskedKeysAndAFullyMaskedRowIsUniform()
    {
        var rng = new Generator(5);
        var q = Tensor.Randn(rng, 1, 2, 1, 3, 4);
        var k = Tensor.Randn(rng, 1, 2, 1, 3, 4);
        var v = Tensor.Randn(rng, 1, 2, 1, 3, 4);
        // Batch 0: key 2 masked; changing it must not change the output. Batch 1: all keys masked → mean of v.
        var mask = IntTensor.FromArray([1, 1, 0, 0, 0, 0], 2, 3);
        var y1 = F.ScaledDotProductAttention(q, k, v, mask).ToArray();
        k.Span[2 * 4] += 5f;
        v.Span[2 * 4] += 5f;
        var y2 = F.ScaledDotProductAttention(q, k, v, mask).ToArray();
        Assert.Equal(y1[..12], y2[..12]);
        var vv = v.ToArray();
        for (int i = 0; i < 3; i++)
            for (int d = 0; d < 4; d++)
            {
                float mean = (vv[12 + d] + vv[16 + d] + vv[20 + d]) / 3f;
                Assert.Equal(mean, y2[12 + i * 4 + d], 5);
            }
    }

    [Fact]
    public void OutOfRangeIdsAndLabelsAreClearErrors()
    {
        var w = Tensor.Zeros(4, 2);
        var e = Assert.Throws<FinetuneException>(() => F.Embedding(IntTensor.FromArray([1, 4]), w));
        Assert.Contains("Token id 4 at position 1", e.Message);
        var e2 = Assert.Throws<FinetuneException>(() => F.CrossEntropy(Tensor.Zeros(2, 3), IntTensor.FromArray([0, 3])));
        Assert.Contains("Label 3 at position 1", e2.Message);
    }
}

public class TensorScopeTests
{
    [Fact]
    public void ReleasesStepTensorsButKeepsParametersGradientsAndKeptTensors()
    {
        var lin = new Finetune.Nn.Linear(5, 3, rng: new Generator(1));
        Tensor hidden, kept;
        float lossValue;
        using (var scope = TensorScope.Begin())
        {
            var x = Tensor.Ones(2, 5);
            hidden = lin.Forward(x);
            var loss = F.Sum(F.Tanh(hidden));
            loss.Backward();
            lossValue = loss.Item();
            kept = scope.Keep(F.Scale(hidden, 1f));
        }
        Assert.Throws<ObjectDisposedException>(() => hidden.Span[0]);
        Assert.Equal(6, kept.Length);
        Assert.NotNull(lin.Weight.Grad);
        Assert.Equal(15, lin.Weight.Grad!.ToArray().Length);
        Assert.Equal(15, lin.Weight.ToArray().Length);
        Assert.False(float.IsNaN(lossValue));
    }

    [Fact]
    public void AReleasedBufferIsReusedByTheNextStep()
    {
        const int odd = 12347;
        long first;
        using (TensorScope.Begin())
        {
            unsafe
            {
                first = (long)Tensor.Zeros(odd).Data;
            }
        }
        using (TensorScope.Begin())
        {
            unsafe
            {
                Assert.Equal(first, (long)Tensor.Zeros(odd).Data);
            }
        }
    }

    [Fact]
    public void ScopesMustEndInOrder()
    {
        var outer = TensorScope.Begin();
        var inner = TensorScope.Begin();
        Assert.Throws<InvalidOperationException>(() => outer.Dispose());
        inner.Dispose();
        outer.Dispose();
    }
}
