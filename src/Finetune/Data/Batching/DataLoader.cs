using System.Collections;
using System.Collections.Concurrent;

namespace Finetune.Data;

/// <summary>How a <see cref="DataLoader"/> orders rows.</summary>
public enum SamplerKind
{
    /// <summary>Rows in dataset order (evaluation; the golden Trainer runs).</summary>
    Sequential,
    /// <summary>A fresh permutation every epoch.</summary>
    Random,
    /// <summary>transformers' LengthGroupedSampler (`group_by_length`): random megabatches sorted by length.</summary>
    LengthGrouped,
}

/// <summary>
/// Yields padded <see cref="Batch"/>es of a tokenized dataset. Random orders come from numpy's generator
/// (<see cref="NumpyRandom"/>) seeded with seed + epoch, so a given seed gives the same batches on every run and
/// machine (PyTorch's RandomSampler uses torch's generator, which this does not reproduce). With
/// <see cref="Prefetch"/> &gt; 0 batches are built on a background thread while the caller computes.
/// </summary>
public sealed class DataLoader : IEnumerable<Batch>
{
    private readonly Dataset _dataset;
    private readonly TokenizedColumns _cols;

    public DataLoader(Dataset dataset, DataCollatorWithPadding collator, int batchSize, SamplerKind sampler = SamplerKind.Sequential, ulong seed = 0, bool dropLast = false, int prefetch = 2)
    {
        if (batchSize <= 0) throw new ArgumentException("batchSize must be positive");
        _dataset = dataset;
        _cols = TokenizedColumns.Of(dataset);
        Collator = collator;
        BatchSize = batchSize;
        Sampler = sampler;
        Seed = seed;
        DropLast = dropLast;
        Prefetch = prefetch;
    }

    public DataCollatorWithPadding Collator { get; }

    public int BatchSize { get; }

    public SamplerKind Sampler { get; }

    public ulong Seed { get; }

    public bool DropLast { get; }

    public int Prefetch { get; }

    /// <summary>Epoch number mixed into the seed (like `sampler.set_epoch`), so each epoch is ordered differently.</summary>
    public int Epoch { get; set; }

    /// <summary>Batches per epoch.</summary>
    public int Count => DropLast ? _dataset.NumRows / BatchSize : (_dataset.NumRows + BatchSize - 1) / BatchSize;

    /// <summary>The row order of the current epoch.</summary>
    public int[] Order()
    {
        int n = _dataset.NumRows;
        return Sampler switch
        {
            SamplerKind.Sequential => Enumerable.Range(0, n).ToArray(),
            SamplerKind.Random => new NumpyRandom(Seed + (ulong)Epoch).Permutation(n),
            _ => LengthGroupedIndices(Enumerable.Range(0, n).Select(_cols.Length).ToArray(), BatchSize, new NumpyRandom(Seed + (ulong)Epoch)),
        };
    }

    /// <summary>
    /// transformers' get_length_grouped_indices: shuffle, cut into megabatches of min(n / (4·batch), 50) batches,
    /// sort each by length descending (stable), and move the longest row of all to the very front.
    /// </summary>
    public static int[] LengthGroupedIndices(int[] lengths, int batchSize, NumpyRandom rng)
    {
        int n = lengths.Length;
        int mult = Math.Min(n / (batchSize * 4), 50);
        if (mult == 0) mult = 1;
        int mega = mult * batchSize;
        int[] perm = rng.Permutation(n);
        var megabatches = new List<int[]>();
        for (int i = 0; i < n; i += mega)
        {
            int[] m = perm[i..Math.Min(n, i + mega)];
            int[] sorted = m.OrderByDescending(r => lengths[r]).ToArray(); // OrderBy is stable, like Python's sorted
            megabatches.Add(sorted);
        }
        if (megabatches.Count == 0) return Array.Empty<int>();
        int maxIdx = 0;
        for (int i = 1; i < megabatches.Count; i++) if (lengths[megabatches[i][0]] > lengths[megabatches[maxIdx][0]]) maxIdx = i;
        (megabatches[0][0], megabatches[maxIdx][0]) = (megabatches[maxIdx][0], megabatches[0][0]);
        return megabatches.SelectMany(m => m).ToArray();
    }

    private IEnumerable<Batch> Produce(int[] order)
    {
        int count = Count;
        for (int b = 0; b < count; b++)
        {
            int start = b * BatchSize, len = Math.Min(BatchSize, order.Length - start);
            yield return Collator.Collate(_cols, order.AsSpan(start, len));
        }
    }

    public IEnumerator<Batch> GetEnumerator()
    {
        int[] order = Order();
        if (Prefetch <= 0) return Produce(order).GetEnumerator();
        return Prefetched(order).GetEnumerator();
    }

    private IEnumerable<Batch> Prefetched(int[] order)
    {
        using var queue = new BlockingCollection<Batch>(Prefetch);
        using var cts = new CancellationTokenSource();
        Exception? failure = null;
        var worker = new Thread(() =>
        {
            try
            {
                foreach (var batch in Produce(order)) queue.Add(batch, cts.Token);
            }
            catch (OperationCanceledException) { }
            catch (Exception e) { failure = e; }
            finally { queue.CompleteAdding(); }
        })
        { IsBackground = true, Name = "DataLoader prefetch" };
        worker.Start();
        try
        {
            foreach (var batch in queue.GetConsumingEnumerable()) yield return batch;
            if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        finally
        {
            cts.Cancel();
            worker.Join();
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
