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
/// Yields padded <see cref="Batch"/>es of a tokenized dataset, as torch's DataLoader over a sampler. Random orders
/// come from numpy's generator (<see cref="NumpyRandom"/>) seeded with seed + epoch, so a given seed gives the same
/// batches on every run and machine (PyTorch's RandomSampler uses torch's generator, which this does not
/// reproduce). With <see cref="NumReplicas"/> &gt; 1 each rank iterates its <see cref="DistributedSampler"/> share
/// of the epoch. With <see cref="Prefetch"/> &gt; 0 batches are built on a background thread while the caller
/// computes.
/// </summary>
public sealed class DataLoader : IEnumerable<Batch>
{
    private readonly Dataset _dataset;
    private readonly TokenizedColumns _cols;
    // The current epoch's order, computed once per epoch (batches are cut from it by index).
    private int[]? _order;
    private int _orderEpoch = -1;

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

    /// <summary>
    /// The batch size length grouping cuts megabatches in (0: <see cref="BatchSize"/>); transformers' Trainer passes
    /// train_batch_size × gradient_accumulation_steps.
    /// </summary>
    public int LengthGroupingBatchSize { get; init; }

    /// <summary>Row lengths for length grouping (transformers' length_column_name); null: the input_ids lengths.</summary>
    public int[]? Lengths { get; init; }

    /// <summary>Ranks sharing each epoch (torch's DistributedSampler num_replicas); 1 iterates the whole epoch.</summary>
    public int NumReplicas { get; init; } = 1;

    /// <summary>This process's rank among <see cref="NumReplicas"/>.</summary>
    public int Rank { get; init; }

    /// <summary>Epoch number mixed into the seed (like `sampler.set_epoch`), so each epoch is ordered differently.</summary>
    public int Epoch { get; set; }

    /// <summary>Rows this loader (this rank) iterates per epoch, before drop_last.</summary>
    public int NumRows => NumReplicas == 1 ? _dataset.NumRows : DistributedSampler.NumSamples(_dataset.NumRows, NumReplicas, dropLast: false);

    /// <summary>Batches per epoch.</summary>
    public int Count => DropLast ? NumRows / BatchSize : (NumRows + BatchSize - 1) / BatchSize;

    /// <summary>The columns the collator reads (labels included), fetched once.</summary>
    internal TokenizedColumns Columns => _cols;

    /// <summary>The row order of the current epoch (this rank's share of it with several replicas).</summary>
    public int[] Order() => (int[])EpochOrder().Clone();

    private int[] EpochOrder()
    {
        if (_order != null && _orderEpoch == Epoch) return _order;
        int n = _dataset.NumRows;
        int[] order;
        if (Sampler == SamplerKind.Sequential)
        {
            order = new int[n];
            for (int i = 0; i < n; i++) order[i] = i;
        }
        else if (Sampler == SamplerKind.Random) order = new NumpyRandom(Seed + (ulong)Epoch).Permutation(n);
        else
        {
            int[] lengths = Lengths ?? RowLengths();
            if (lengths.Length != n) throw FinetuneException.Invalid($"Length grouping got {lengths.Length} lengths for a dataset of {n} rows.");
            order = LengthGroupedIndices(lengths, LengthGroupingBatchSize > 0 ? LengthGroupingBatchSize : BatchSize, new NumpyRandom(Seed + (ulong)Epoch));
        }
        if (NumReplicas != 1) order = DistributedSampler.Shard(order, Rank, NumReplicas);
        _order = order;
        _orderEpoch = Epoch;
        return order;
    }

    private int[] RowLengths()
    {
        var lengths = new int[_dataset.NumRows];
        for (int i = 0; i < lengths.Length; i++) lengths[i] = _cols.Length(i);
        return lengths;
    }

    /// <summary>
    /// transformers' get_length_grouped_indices: shuffle, cut into megabatches of min(n / (4·batch), 50) batches
    /// (at least one), sort each by length descending (stable, as Python's sorted), and swap the longest row of all
    /// to the very front.
    /// </summary>
    public static int[] LengthGroupedIndices(int[] lengths, int batchSize, NumpyRandom rng)
    {
        int n = lengths.Length;
        int mult = Math.Min(n / (batchSize * 4), 50);
        if (mult == 0) mult = 1;
        int mega = mult * batchSize;
        int[] perm = rng.Permutation(n);
        if (n == 0) return perm;
        // Longer first, then earlier in the shuffle: unique keys, so the unstable Array.Sort sorts stably.
        var keys = new long[n];
        for (int i = 0; i < n; i++) keys[i] = ((long)(int.MaxValue - lengths[perm[i]]) << 32) | (uint)i;
        int longestStart = 0;
        for (int start = 0; start < n; start += mega)
        {
            int len = Math.Min(mega, n - start);
            Array.Sort(keys, perm, start, len);
            if (lengths[perm[start]] > lengths[perm[longestStart]]) longestStart = start;
        }
        (perm[0], perm[longestStart]) = (perm[longestStart], perm[0]);
        return perm;
    }

    /// <summary>The <paramref name="index"/>-th batch of the current epoch, padded by the collator.</summary>
    public Batch BatchAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return Cut(EpochOrder(), index);
    }

    private Batch Cut(int[] order, int index)
    {
        int start = index * BatchSize, len = Math.Min(BatchSize, order.Length - start);
        return Collator.Collate(_cols, order.AsSpan(start, len));
    }

    private IEnumerable<Batch> Produce(int[] order)
    {
        int count = Count;
        for (int b = 0; b < count; b++) yield return Cut(order, b);
    }

    public IEnumerator<Batch> GetEnumerator()
    {
        int[] order = EpochOrder();
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
