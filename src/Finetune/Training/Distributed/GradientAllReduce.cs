using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;

namespace Finetune.Training.Distributed;

/// <summary>
/// Averages parameter gradients over ranks as DDP does, overlapped with backward: parameters are packed, in reverse
/// order (roughly the order backward finishes them), into buckets of at most <see cref="BucketBytes"/> (DDP's
/// 25 MB). Between <see cref="Begin"/> and <see cref="Finish"/>, each parameter's
/// <see cref="Tensor.GradAccumulated"/> hook copies its final gradient into its bucket, and a full bucket is summed
/// over ranks while backward computes the rest. Buckets are reduced strictly in index order on every rank (MPI needs
/// the same order of collectives everywhere, and a later bucket may fill first). A last small sum carries one "has
/// a gradient" flag per parameter, so that a parameter no rank touched keeps a null gradient exactly as in one
/// process (AdamW then skips it), and the step's loss, so that every rank logs the global mean.
/// </summary>
/// <remarks>
/// The sums run on a dedicated communication thread rather than as MPI_Iallreduce started from backward: MPI
/// moves a non-blocking collective's data only while some thread is inside an MPI call, so a request started from
/// backward would mostly travel in the final wait. The training thread makes no MPI call between Begin and the end
/// of Finish's wait, which keeps MPI_THREAD_SERIALIZED's promise. Each element is summed over the same ranks as
/// without overlap, so the result does not depend on when a bucket fills.
/// </remarks>
public sealed class GradientAllReduce : IDisposable
{
    public const int BucketBytes = 25 * 1024 * 1024;
    private readonly ICommunicator comm;
    private readonly Tensor[] parameters;
    private readonly int[] bucketOf, offsetOf;
    private readonly float[][] buckets;
    private readonly int[][] members;      // parameter indices of each bucket
    private readonly int[] unready;        // per bucket: parameters whose gradient is not final yet
    private readonly bool[] ready;
    private readonly float[] tail;         // flags, then the loss
    private readonly Action<Tensor>[] hooks;
    private readonly SemaphoreSlim bucketFull = new(0), allReduced = new(0);
    private Thread? worker;
    private int nextToSend;
    private bool armed, stopping;
    private Exception? failure;

    public GradientAllReduce(ICommunicator comm, IEnumerable<Tensor> parameters)
        : this(comm, parameters, BucketBytes)
    {
    }

    /// <summary>With a bucket size of its own (tests use small ones to see several buckets).</summary>
    internal GradientAllReduce(ICommunicator comm, IEnumerable<Tensor> parameters, int bucketBytes)
    {
        this.comm = comm;
        var trained = new List<Tensor>();
        foreach (var p in parameters)
            if (p.RequiresGrad) trained.Add(p);
        this.parameters = trained.ToArray();
        int n = this.parameters.Length;
        bucketOf = new int[n];
        offsetOf = new int[n];
        var sizes = new List<int>();
        var lists = new List<List<int>>();
        int capacity = Math.Max(1, bucketBytes / sizeof(float));
        for (int i = n - 1; i >= 0; i--)
        {
            int length = this.parameters[i].Length;
            if (sizes.Count == 0 || (sizes[^1] > 0 && sizes[^1] + length > capacity)) { sizes.Add(0); lists.Add([]); }
            bucketOf[i] = sizes.Count - 1;
            offsetOf[i] = sizes[^1];
            sizes[^1] += length;
            lists[^1].Add(i);
        }
        buckets = new float[sizes.Count][];
        members = new int[sizes.Count][];
        for (int b = 0; b < buckets.Length; b++)
        {
            buckets[b] = GC.AllocateUninitializedArray<float>(sizes[b]);
            members[b] = lists[b].ToArray();
        }
        unready = new int[buckets.Length];
        ready = new bool[n];
        tail = new float[n + 1];
        hooks = new Action<Tensor>[n];
        for (int i = 0; i < n; i++)
        {
            int index = i;
            hooks[i] = _ => MarkReady(index);
        }
    }

    /// <summary>Number of buckets the gradients travel in.</summary>
    public int BucketCount => buckets.Length;

    /// <summary>
    /// Replaces every gradient by the mean over ranks and returns the mean of <paramref name="loss"/>, after
    /// backward (no overlap): for hand-written loops that do not call <see cref="Begin"/> before their last backward.
    /// </summary>
    public float Run(float loss)
    {
        Begin();
        return Finish(loss);
    }

    /// <summary>
    /// Call before the backward pass that completes the step's gradients (the last micro-batch of an accumulation
    /// window): from then on each bucket is averaged as soon as backward has finished its gradients.
    /// </summary>
    public void Begin()
    {
        if (armed) throw new InvalidOperationException("GradientAllReduce.Begin was called twice without Finish.");
        ObjectDisposedException.ThrowIf(stopping, this);
        if (worker == null)
        {
            worker = new Thread(Communicate) { IsBackground = true, Name = "gradient allreduce" };
            worker.Start();
        }
        armed = true;
        nextToSend = 0;
        Array.Clear(ready);
        for (int b = 0; b < buckets.Length; b++) unready[b] = members[b].Length;
        for (int i = 0; i < parameters.Length; i++) parameters[i].GradAccumulated = hooks[i];
    }

    /// <summary>
    /// Waits for every bucket (those backward never reached go now, with zeros for gradients this rank lacks), then
    /// leaves each gradient the mean over ranks and returns the mean of <paramref name="loss"/>.
    /// </summary>
    public float Finish(float loss)
    {
        if (!armed) throw new InvalidOperationException("GradientAllReduce.Finish without Begin.");
        for (int i = 0; i < parameters.Length; i++)
        {
            parameters[i].GradAccumulated = null;
            if (!ready[i]) MarkReady(i);
        }
        allReduced.Wait();
        armed = false;
        if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        tail[^1] = loss;
        comm.AllReduceSum(tail, 0, tail.Length);
        float scale = 1f / comm.Size;
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            if (tail[i] == 0f || p.Grad != null) continue; // no rank had one, or the worker already wrote the mean
            p.Grad = Tensor.Zeros(p.Shape);
            TensorPrimitives.Multiply(buckets[bucketOf[i]].AsSpan(offsetOf[i], p.Length), scale, p.Grad.Span);
        }
        return tail[^1] * scale;
    }

    // The training thread, when backward has finished parameter i's gradient (or in Finish for the rest).
    private void MarkReady(int i)
    {
        if (!armed || ready[i]) return;
        ready[i] = true;
        var p = parameters[i];
        var span = buckets[bucketOf[i]].AsSpan(offsetOf[i], p.Length);
        if (p.Grad is Tensor g) { g.Span.CopyTo(span); tail[i] = 1f; }
        else { span.Clear(); tail[i] = 0f; }
        unready[bucketOf[i]]--;
        while (nextToSend < buckets.Length && unready[nextToSend] == 0)
        {
            nextToSend++;
            bucketFull.Release();
        }
    }

    // The communication thread: per step, sums buckets 0, 1, ... as they fill and writes each mean back into the
    // gradients of this rank (which backward no longer touches); parameters without one wait for Finish.
    private void Communicate()
    {
        while (true)
        {
            for (int b = 0; b < buckets.Length; b++)
            {
                bucketFull.Wait();
                if (stopping) return;
                if (failure != null) continue;
                try
                {
                    comm.AllReduceSum(buckets[b], 0, buckets[b].Length);
                    float scale = 1f / comm.Size;
                    foreach (int i in members[b])
                        if (parameters[i].Grad is Tensor g) TensorPrimitives.Multiply(buckets[b].AsSpan(offsetOf[i], g.Length), scale, g.Span);
                }
                catch (Exception e) { failure = e; }
            }
            allReduced.Release();
        }
    }

    public void Dispose()
    {
        if (stopping) return;
        stopping = true;
        foreach (var p in parameters) p.GradAccumulated = null;
        bucketFull.Release();
        // Between steps the worker only waits for the next bucket and ends at once; inside a step that failed it
        // may be in a collective, and as a background thread it must not keep the caller waiting.
        if (!armed) worker?.Join();
    }
}
