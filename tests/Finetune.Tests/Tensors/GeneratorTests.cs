using Finetune.Tensors;

namespace Finetune.Tests.Tensors;

public class GeneratorTests
{
    /// <summary>
    /// Two flows that seed the default stream at once each draw their own seed's sequence: the trainer reseeds it
    /// every micro-batch, and a second trainer (or a test running beside it) must not shift its dropout masks.
    /// </summary>
    [Fact]
    public async Task ManualSeedIsSeenByTheCallingFlowOnly()
    {
        const int draws = 20_000;
        ulong[] Expected(ulong seed)
        {
            var g = new Generator(seed);
            var r = new ulong[draws];
            for (int i = 0; i < draws; i++) r[i] = g.NextUInt64();
            return r;
        }

        using var bothSeeded = new Barrier(2);
        ulong[] Draw(ulong seed)
        {
            Generator.ManualSeed(seed);
            bothSeeded.SignalAndWait();
            var r = new ulong[draws];
            for (int i = 0; i < draws; i++) r[i] = Generator.Default.NextUInt64();
            return r;
        }

        var a = Task.Factory.StartNew(() => Draw(1), TaskCreationOptions.LongRunning);
        var b = Task.Factory.StartNew(() => Draw(2), TaskCreationOptions.LongRunning);
        Assert.Equal(Expected(1), await a);
        Assert.Equal(Expected(2), await b);
    }

    [Fact]
    public async Task ASeedReachesTheTasksItsFlowStarts()
    {
        Generator.ManualSeed(7);
        ulong inTask = await Task.Run(() => Generator.Default.NextUInt64());
        Assert.Equal(new Generator(7).NextUInt64(), inTask);
    }
}
