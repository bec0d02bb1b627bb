using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Finetune.Tensors;

/// <summary>
/// Recycles the float arrays behind tensors so that a training step reuses the previous step's memory instead of
/// producing garbage. Arrays live on the pinned object heap (they never move, so kernels may hold raw pointers)
/// and carry 16 spare floats so the data can start on a 64-byte boundary. Pooling is keyed by exact length:
/// training repeats the same shapes every step.
/// </summary>
internal static class BufferPool
{
    private const int Slack = 16;
    private static readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> Free = new();
    private static long _pooledFloats;

    /// <summary>Upper bound on floats kept idle in the pool (1 GiB); beyond it returned arrays go to the GC.</summary>
    internal static long MaxPooledFloats { get; set; } = 256L * 1024 * 1024;

    /// <summary>An array holding at least <paramref name="length"/> floats from a 64-byte-aligned offset; contents are arbitrary.</summary>
    public static float[] Rent(int length, out int offset)
    {
        float[]? arr = null;
        if (Free.TryGetValue(length, out var bag) && bag.TryTake(out arr))
            Interlocked.Add(ref _pooledFloats, -length);
        arr ??= GC.AllocateUninitializedArray<float>(length + Slack, pinned: true);
        offset = AlignedOffset(arr);
        return arr;
    }

    public static void Return(float[] arr)
    {
        int length = arr.Length - Slack;
        if (Interlocked.Add(ref _pooledFloats, length) > MaxPooledFloats)
        {
            Interlocked.Add(ref _pooledFloats, -length);
            return;
        }
        Free.GetOrAdd(length, _ => new ConcurrentBag<float[]>()).Add(arr);
    }

    /// <summary>Drops every idle array (tests and long-lived processes that change shapes).</summary>
    public static void Clear()
    {
        Free.Clear();
        Interlocked.Exchange(ref _pooledFloats, 0);
    }

    private static unsafe int AlignedOffset(float[] arr)
    {
        nuint addr = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (int)((64 - (addr & 63)) & 63) / sizeof(float);
    }
}
