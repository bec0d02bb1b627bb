using Finetune.Data;
using Finetune.Nn;
using Finetune.Tensors;
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
        var rows = ToyClassifier.Rows(Enumerable.Range(0, 64).Select(i => new[] { 101, i + 1000, 102 }).ToArray(), Enumerable.Range(0, 64).Select(i => i % 2).ToArray());
        int[] order = new DataLoader(rows, new DataCollatorWithPadding(0), 8, SamplerKind.Random, seed: 3) { Epoch = 1 }.Order();
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
        // mpirun's default binding already gave each rank its cores (here a socket of 8): no further split.
        Assert.Equal(8, DistributedLaunch.ThreadsPerRank(8, 2, bound: true));
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

    /// <summary>A stand-in for a second rank whose every gradient element (and loss, and "has a gradient" flag) is <paramref name="other"/>.</summary>
    private sealed class TwoRanks(float other) : ICommunicator
    {
        public readonly List<float[]> Sums = [];
        public readonly ManualResetEventSlim FirstSum = new();
        public int Rank => 0;
        public int Size => 2;
        public int LocalSize => 1;

        public void AllReduceSum(float[] buffer, int offset, int count)
        {
            lock (Sums) Sums.Add(buffer.AsSpan(offset, count).ToArray());
            for (int i = offset; i < offset + count; i++) buffer[i] += other;
            FirstSum.Set();
        }

        public void AllReduceSum(double[] buffer) => throw new NotSupportedException();
        public void Broadcast(float[] buffer, int offset, int count, int root) => throw new NotSupportedException();
        public void Barrier() => throw new NotSupportedException();
        public void Abort(int exitCode) => throw new NotSupportedException();
        public void Dispose() => FirstSum.Dispose();
    }

    private static Tensor Parameter(params float[] v)
    {
        var t = Tensor.FromArray(v, v.Length);
        t.RequiresGrad = true;
        return t;
    }

    [Fact]
    public void GradientBucketsAreAveragedWhileBackwardStillRunsInBucketOrder()
    {
        // Parameters in model order: unused (never reached by backward), w1, w2. Buckets of 3 floats go in reverse
        // order: w2, w1, unused.
        var unused = Parameter(7f, 7f);
        var w1 = Parameter(1f, 2f, 3f);
        var w2 = Parameter(0.5f, -1f, 2f);
        var x = Tensor.FromArray([4f, 5f, 6f], 3);
        using var comm = new TwoRanks(other: 1f);
        using var sync = new GradientAllReduce(comm, [unused, w1, w2], bucketBytes: 12);
        Assert.Equal(3, sync.BucketCount);

        // L = Σ gate(w1·x)·w2, where gate is the identity whose backward runs after w2's gradient is final and
        // before w1's: it waits for the first bucket's sum, which therefore has to start during backward.
        var h = F.Mul(w1, x);
        var gated = Tensor.FromArray(h.ToArray(), 3);
        bool overlapped = false;
        Autograd.Record(gated, "gate", [h], g =>
        {
            overlapped = comm.FirstSum.Wait(TimeSpan.FromMinutes(2));
            Autograd.Send(h, g.Span);
        });
        var loss = F.Sum(F.Mul(gated, w2));
        sync.Begin();
        loss.Backward();
        float mean = sync.Finish(loss.Item());

        Assert.True(overlapped, "the bucket holding w2's gradient was not summed during backward");
        // Sums in bucket order, then the flags (unused, w1, w2) and the loss: L = 2 - 10 + 36 = 28.
        Assert.Equal([[4f, 10f, 18f], [2f, -5f, 12f], [0f, 0f], [0f, 1f, 1f, 28f]], comm.Sums);
        // Each gradient is the mean of this rank's and the other's (1 everywhere, the unused one's too).
        Assert.Equal(new[] { 2.5f, 5.5f, 9.5f }, w2.Grad!.ToArray());
        Assert.Equal(new[] { 1.5f, -2f, 6.5f }, w1.Grad!.ToArray());
        Assert.Equal(new[] { 0.5f, 0.5f }, unused.Grad!.ToArray());
        Assert.Equal(14.5f, mean);
        Assert.Null(w1.GradAccumulated);
    }

    [Fact]
    public void AParameterNoRankTouchedKeepsANullGradientAfterTheAllReduce()
    {
        var unused = Parameter(7f, 7f);
        var w = Parameter(1f, 2f, 3f);
        using var comm = new TwoRanks(other: 0f);
        using var sync = new GradientAllReduce(comm, [unused, w]);
        Assert.Equal(1, sync.BucketCount);
        var loss = F.Sum(F.Mul(w, Tensor.FromArray([4f, 5f, 6f], 3)));
        loss.Backward();
        float mean = sync.Run(loss.Item()); // after backward, as a hand-written loop may call it
        Assert.Null(unused.Grad);
        Assert.Equal(new[] { 2f, 2.5f, 3f }, w.Grad!.ToArray());
        Assert.Equal(16f, mean);
    }
}
