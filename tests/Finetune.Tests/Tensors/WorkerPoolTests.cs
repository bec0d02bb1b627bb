using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

[Collection("Parallelism")]
public class WorkerPoolTests
{
    /// <summary>
    /// Regions whose parts finish at very different times (some past the waiting caller's spin, so it blocks, some
    /// within it): every call must return only after all its parts ran, each exactly once.
    /// </summary>
    [Fact]
    public void EveryRegionWaitsForAllItsPartsExactlyOnce()
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 3;
            var counts = new int[3];
            for (int round = 0; round < 3000; round++)
            {
                Array.Clear(counts);
                int slow = round % 7 == 0 ? 1 + round % 2 : -1;
                Parallelism.For(3, (b, e) =>
                {
                    for (int p = b; p < e; p++)
                    {
                        // A part that outlasts the spin makes the caller block on the event.
                        if (p == slow) Thread.Sleep(1);
                        else if (round % 5 == 0) Thread.SpinWait(200 * (p + 1));
                        Interlocked.Increment(ref counts[p]);
                    }
                });
                Assert.Equal([1, 1, 1], counts);
            }
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    [Fact]
    public void AnExceptionInAWorkerReachesTheCallerAndThePoolKeepsWorking()
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 2;
            var e = Assert.Throws<InvalidOperationException>(() => Parallelism.For(2, (b, _) =>
            {
                if (b > 0) throw new InvalidOperationException("part failed");
            }));
            Assert.Equal("part failed", e.Message);
            int sum = 0;
            Parallelism.For(2, (b, end) => Interlocked.Add(ref sum, end - b));
            Assert.Equal(2, sum);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}
