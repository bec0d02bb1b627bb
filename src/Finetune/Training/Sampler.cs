using Finetune.Tensors;

namespace Finetune.Training;

/// <summary>The order of training rows per epoch: sequential, a seeded shuffle, or length-grouped megabatches.</summary>
public static class Sampler
{
    /// <summary>SplitMix64-style mixing of two values into one seed.</summary>
    public static ulong Mix(ulong a, ulong b)
    {
        ulong z = a * 0x9E3779B97F4A7C15UL + b + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static int[] EpochOrder(IReadOnlyList<TokenizedExample> data, TrainingArguments args, int epoch)
    {
        int n = data.Count;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var sampling = args.EffectiveSampling;
        if (sampling == TrainSamplingStrategy.Sequential) return order;
        var rng = new Generator(Mix((ulong)(args.DataSeed ?? args.Seed), (ulong)epoch));
        Shuffle(order, rng);
        if (sampling == TrainSamplingStrategy.Random) return order;

        // transformers' LengthGroupedSampler: megabatches of 50 batches, each sorted by length (longest first),
        // with the longest batch of all moved to the front so that memory problems surface at once.
        int mega = args.PerDeviceTrainBatchSize * 50;
        for (int start = 0; start < n; start += mega)
        {
            int len = Math.Min(mega, n - start);
            Array.Sort(order, start, len, Comparer<int>.Create((a, b) =>
            {
                int c = data[b].InputIds.Length.CompareTo(data[a].InputIds.Length);
                return c != 0 ? c : a.CompareTo(b);
            }));
        }
        int longestMega = 0;
        int longest = -1;
        for (int start = 0; start < n; start += mega)
            if (data[order[start]].InputIds.Length > longest) { longest = data[order[start]].InputIds.Length; longestMega = start; }
        (order[0], order[longestMega]) = (order[longestMega], order[0]);
        return order;
    }

    private static void Shuffle(int[] a, Generator rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = (int)(rng.NextUInt64() % (ulong)(i + 1));
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
