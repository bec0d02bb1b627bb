using Finetune.Tensors;

namespace Finetune.Training.Distributed;

/// <summary>
/// Averages parameter gradients over ranks, as DDP does before clipping and the optimizer step: gradients are
/// packed into buckets of at most <see cref="BucketBytes"/> (DDP's 25 MB), each summed with a non-blocking
/// allreduce so the buckets travel together, then scaled by 1 / world. Each parameter also carries a "has a
/// gradient" flag, so a parameter no rank touched keeps a null gradient exactly as in one process (AdamW then
/// skips it), and the step's loss rides along so that every rank logs the global mean.
/// </summary>
public sealed class GradientAllReduce
{
    public const int BucketBytes = 25 * 1024 * 1024;
    private readonly ICommunicator comm;
    private readonly Tensor[] parameters;
    private readonly long[] offsets;
    private readonly float[] flat;

    public GradientAllReduce(ICommunicator comm, IEnumerable<Tensor> parameters)
    {
        this.comm = comm;
        this.parameters = parameters.ToArray();
        offsets = new long[this.parameters.Length + 1];
        for (int i = 0; i < this.parameters.Length; i++) offsets[i + 1] = offsets[i] + this.parameters[i].Length;
        // gradients, one flag per parameter, the loss
        long total = offsets[^1] + this.parameters.Length + 1;
        if (total > Array.MaxLength) throw new FinetuneException(ErrorKind.Unsupported, $"The model's {offsets[^1]} gradient values exceed one buffer.");
        flat = GC.AllocateUninitializedArray<float>((int)total, pinned: true);
    }

    /// <summary>Replaces every gradient by the mean over ranks and returns the mean of <paramref name="loss"/>.</summary>
    public float Run(float loss)
    {
        int flags = (int)offsets[^1];
        for (int i = 0; i < parameters.Length; i++)
        {
            var span = flat.AsSpan((int)offsets[i], parameters[i].Length);
            if (parameters[i].Grad is Tensor g) { g.Span.CopyTo(span); flat[flags + i] = 1f; }
            else { span.Clear(); flat[flags + i] = 0f; }
        }
        flat[^1] = loss;
        Reduce();
        float scale = 1f / comm.Size;
        for (int i = 0; i < parameters.Length; i++)
        {
            if (flat[flags + i] == 0f) continue;
            var p = parameters[i];
            p.Grad ??= Tensor.Zeros(p.Shape);
            var dst = p.Grad.Span;
            var src = flat.AsSpan((int)offsets[i], p.Length);
            for (int j = 0; j < dst.Length; j++) dst[j] = src[j] * scale;
        }
        return flat[^1] * scale;
    }

    private unsafe void Reduce()
    {
        int bucket = BucketBytes / sizeof(float);
        if (comm is MpiCommunicator mpi)
        {
            int count = (flat.Length + bucket - 1) / bucket;
            var requests = new nint[count];
            fixed (float* p = flat)
            {
                mpi.Announce("gradient allreduce");
                for (int b = 0; b < count; b++)
                {
                    int start = b * bucket;
                    requests[b] = mpi.StartAllReduceSum(p + start, Math.Min(bucket, flat.Length - start));
                }
                for (int b = 0; b < count; b++) mpi.Wait(requests[b]);
            }
        }
        else
        {
            for (int start = 0; start < flat.Length; start += bucket)
                comm.AllReduceSum(flat, start, Math.Min(bucket, flat.Length - start));
        }
    }
}
