using Finetune.Training;
using Finetune.Training.Distributed;

namespace Finetune.Tests.Training;

/// <summary>The pieces of data-parallel training that need no MPI: torch's DistributedSampler, launch settings.</summary>
public class DistributedTests
{
    [Fact]
    public void ShardsPadFromTheStartAsTorchDoes()
    {
        // torch: 10 rows over 4 ranks -> 3 each, padded with rows 0 and 1; rank r takes positions r, r+4, r+8.
        int[] order = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        Assert.Equal([0, 4, 8], DistributedSampler.Shard(order, 0, 4));
        Assert.Equal([1, 5, 9], DistributedSampler.Shard(order, 1, 4));
        Assert.Equal([2, 6, 0], DistributedSampler.Shard(order, 2, 4));
        Assert.Equal([3, 7, 1], DistributedSampler.Shard(order, 3, 4));
        // drop_last: ceil((10 - 4) / 4) = 2 each, rows 8 and 9 dropped.
        Assert.Equal([3, 7], DistributedSampler.Shard(order, 3, 4, dropLast: true));
        // Padding longer than the data repeats it: [7, 5] -> [7, 5, 7, 5, 7] over 5 ranks.
        int[] small = [7, 5];
        Assert.Equal([7], DistributedSampler.Shard(small, 0, 5));
        Assert.Equal([5], DistributedSampler.Shard(small, 3, 5));
        Assert.Equal([7], DistributedSampler.Shard(small, 4, 5));
    }

    [Fact]
    public void ShardsOfAShuffledEpochAreDisjointAndCoverIt()
    {
        var args = new TrainingArguments { Seed = 3 };
        var rows = Enumerable.Range(0, 64).Select(i => new TokenizedExample([101, i + 1000, 102], i % 2)).ToList();
        int[] order = Sampler.EpochOrder(rows, args, epoch: 1);
        var seen = new List<int>();
        for (int r = 0; r < 4; r++) seen.AddRange(DistributedSampler.Shard(order, r, 4));
        Assert.Equal(Enumerable.Range(0, 64), seen.Order());
        // Rank r's i-th row is the epoch order's (r + 4 i)-th.
        Assert.Equal(order[2 + 4 * 5], DistributedSampler.Shard(order, 2, 4)[5]);
    }

    [Fact]
    public void ThreadsAreSharedBetweenLocalRanks()
    {
        Assert.Equal(1, DistributedLaunch.ThreadsPerRank(2, 2));
        Assert.Equal(5, DistributedLaunch.ThreadsPerRank(16, 3));
        Assert.Equal(1, DistributedLaunch.ThreadsPerRank(2, 4));
    }

    [Fact]
    public void ModesParseAndSingleProcessNeverLoadsMpi()
    {
        Assert.Equal(DistributedMode.Mpi, DistributedLaunch.ParseMode("MPI"));
        Assert.Equal(DistributedMode.Auto, DistributedLaunch.ParseMode(null));
        Assert.Equal(3, Assert.Throws<FinetuneException>(() => DistributedLaunch.ParseMode("nccl")).ExitCode);
        Assert.Null(DistributedLaunch.Start(DistributedMode.None));
        if (DistributedLaunch.LaunchedWorldSize is null) Assert.Null(DistributedLaunch.Start(DistributedMode.Auto));
    }

    [Fact]
    public void MissingLibmpiIsUnsupportedWithAnInstallHint()
    {
        var e = Assert.Throws<FinetuneException>(() => MpiNative.Load(["/nonexistent/libmpi.so.40"]));
        Assert.Equal(7, e.ExitCode);
        Assert.Contains("no libmpi", e.Message);
        Assert.Contains("openmpi-bin", e.Message);
    }
}
