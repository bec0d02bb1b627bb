using System.Runtime.CompilerServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Finetune.Tensors.Kernels;

/// <summary>Row gathers from an embedding table [num, dim] and the scatter-add of their gradient.</summary>
internal static class EmbeddingKernels
{
    /// <summary>Elements copied per part of a parallel embedding gather or gradient scatter.</summary>
    private const int Grain = 32768;

    /// <summary>dst row i = table row ids[i] (ids already checked to be in range): parallel over tokens once there is enough to copy.</summary>
    public static unsafe void Gather(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, Span<float> dst, int dim)
    {
        fixed (int* pid = ids)
        fixed (float* pw = table, py = dst)
        {
            nint ip = (nint)pid, wp = (nint)pw, yp = (nint)py;
            Parallelism.For(ids.Length, Math.Max(1, Grain / Math.Max(1, dim)), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i0, i1) =>
            {
                for (int i = i0; i < i1; i++)
                    new ReadOnlySpan<float>((float*)wp + (long)((int*)ip)[i] * dim, dim).CopyTo(new Span<float>((float*)yp + (long)i * dim, dim));
            });
        }
    }

    /// <summary>
    /// gw (=|+=) the scatter-add of g's rows onto the rows named by ids, skipping <paramref name="pad"/>. Each
    /// thread owns a range of table rows: it clears them (the table gradient is dense, and for a vocabulary most of
    /// it is zero) and adds in the tokens that land in its range in token order, so every row sums in the same
    /// order whatever the thread count.
    /// </summary>
    public static unsafe void ScatterAdd(int[] ids, int pad, ReadOnlySpan<float> g, Span<float> gw, int num, int dim, bool accumulate)
    {
        fixed (float* fg = g, fw = gw)
        {
            nint gp = (nint)fg, wp = (nint)fw;
            Parallelism.For(num, Math.Max(1, Grain / Math.Max(1, dim)), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                float* dst = (float*)wp;
                if (!accumulate) new Span<float>(dst + (long)r0 * dim, (r1 - r0) * dim).Clear();
                for (int i = 0; i < ids.Length; i++)
                {
                    int id = ids[i];
                    if (id < r0 || id >= r1 || id == pad) continue;
                    var row = new Span<float>(dst + (long)id * dim, dim);
                    TensorPrimitives.Add(row, new ReadOnlySpan<float>((float*)gp + (long)i * dim, dim), row);
                }
            });
        }
    }
}
