using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Tests.Nn;

/// <summary>The run context: what it defaults to, what entering it changes, and that it stays in its own flow.</summary>
public class RunContextTests
{
    [Fact]
    public void WithNoneEnteredTheContextFollowsTheGradientMode()
    {
        Assert.Equal(RunMode.Train, RunContext.Current.Mode);
        Assert.Equal(ActivationPolicy.RecomputeCheap, RunContext.Current.Activations);
        Assert.False(RunContext.Current.ChunksInference);
        using (Tensor.NoGrad())
        {
            Assert.Equal(RunMode.Inference, RunContext.Current.Mode);
            Assert.True(RunContext.Current.ChunksInference);
        }
    }

    [Fact]
    public void EnteringInferenceTurnsGradientsOffUntilDisposed()
    {
        using (RunContext.Inference.Enter())
        {
            Assert.False(Tensor.IsGradEnabled);
            Assert.Same(RunContext.Inference, RunContext.Current);
        }
        Assert.True(Tensor.IsGradEnabled);
        Assert.Equal(RunMode.Train, RunContext.Current.Mode);
    }

    [Fact]
    public void DropoutWithoutItsOwnGeneratorDrawsFromTheContexts()
    {
        var x = Tensor.Randn(new Generator(1), 1f, 4, 300);
        float[] expected = F.Dropout(x, 0.3f, training: true, new Generator(5)).ToArray();
        float[] actual;
        using (new RunContext(RunMode.Train, new Generator(5)).Enter())
            actual = F.Dropout(x, 0.3f, training: true).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task TwoFlowsEachSeeTheirOwnContext()
    {
        using var bothEntered = new Barrier(2);
        // Each flow on a thread of its own: both wait at the barrier until the other has entered its context.
        Task<(RunContext Seen, ulong Draw)> Flow(ulong seed) => Task.Factory.StartNew(() =>
        {
            var mine = new RunContext(RunMode.Eval, new Generator(seed), ActivationPolicy.Keep, AttentionImplementation.Separate);
            using (mine.Enter())
            {
                bothEntered.SignalAndWait();
                return (RunContext.Current, RunContext.Current.DropoutGenerator.NextUInt64());
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var a = Flow(11);
        var b = Flow(12);
        var (seenA, drawA) = await a;
        var (seenB, drawB) = await b;
        Assert.Equal(new Generator(11).NextUInt64(), drawA);
        Assert.Equal(new Generator(12).NextUInt64(), drawB);
        Assert.NotSame(seenA, seenB);
        Assert.Equal(RunMode.Train, RunContext.Current.Mode); // the test's own flow never saw either
    }
}
