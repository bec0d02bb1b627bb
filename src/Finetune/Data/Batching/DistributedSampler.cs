namespace Finetune.Data;

/// <summary>
/// torch's DistributedSampler applied to an epoch's order: the order is padded to a multiple of the world size by
/// repeating it from its start (or cut to one with drop_last), then rank r takes positions r, r + world, ...
/// Every rank computes the same order from the same seed, so the shards are disjoint and cover the epoch.
/// </summary>
public static class DistributedSampler
{
    /// <summary>Rows per rank: ceil(n / world), or with dropLast floor(n / world) as torch's (n - world) / world rounded up.</summary>
    public static int NumSamples(int n, int world, bool dropLast) =>
        dropLast && n % world != 0 ? (int)Math.Ceiling((double)(n - world) / world) : (n + world - 1) / world;

    public static int[] Shard(int[] order, int rank, int world, bool dropLast = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, world);
        int n = order.Length;
        if (n == 0) return [];
        int perRank = NumSamples(n, world, dropLast);
        var shard = new int[perRank];
        for (int i = 0; i < perRank; i++)
        {
            // Position in the padded order; the padding repeats the order from its start as often as needed.
            int position = rank + i * world;
            shard[i] = order[position % n];
        }
        return shard;
    }
}
