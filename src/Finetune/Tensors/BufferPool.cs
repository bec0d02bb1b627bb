using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Finetune.Tensors;

/// <summary>
/// Recycles the float arrays behind tensors so that a training step reuses the previous step's memory instead of
/// producing garbage. Arrays live on the pinned object heap (they never move, so kernels may hold raw pointers)
/// and carry 16 spare floats so the data can start on a 64-byte boundary.
/// <para>
/// A request takes an idle array of exactly its length when there is one (training repeats the same shapes every
/// step), else the smallest idle array at most a quarter longer (batches padded to different lengths), or, for a
/// large request, at most 8 times longer (see <see cref="TakeIdle"/>). The pool
/// never drops an array while it could still be reused: the pinned heap only shrinks at a full collection, so
/// every array handed to the collector would be replaced by a new one next step and the process would hold both.
/// Instead its footprint (arrays in use + idle) is bounded by a quarter more than the most it ever had in use at
/// once: an allocation that would exceed that first evicts the least recently used idle sizes, and once evictions
/// add up to a quarter of the peak use (and at least 64 MB) a full collection gives their memory back for the new
/// arrays. (Arrays of tensors never disposed count as in use: the collector takes them without the pool knowing.)
/// </para>
/// </summary>
internal static class BufferPool
{
    private const int Slack = 16;

    /// <summary>Requests from this size (256 KB) on may take an idle array up to 8 times longer.</summary>
    private const int MinBorrowFloats = 64 * 1024;

    /// <summary>Evictions below this (64 MB) are left to the collector's own schedule.</summary>
    private const long MinCollectFloats = 16L * 1024 * 1024;
    private static readonly object Gate = new();
    private static readonly Dictionary<int, SizeClass> Idle = new();
    private static long _liveFloats, _idleFloats, _maxLiveFloats, _evictedFloats, _tick;

    /// <summary>Floats in arrays currently rented (tests, diagnostics).</summary>
    internal static long LiveFloats { get { lock (Gate) return _liveFloats; } }

    /// <summary>Floats in idle arrays waiting for reuse (tests, diagnostics).</summary>
    internal static long IdleFloats { get { lock (Gate) return _idleFloats; } }

    /// <summary>The most floats ever rented at once (tests, diagnostics).</summary>
    internal static long MaxLiveFloats { get { lock (Gate) return _maxLiveFloats; } }

    /// <summary>An array holding at least <paramref name="length"/> floats from a 64-byte-aligned offset; contents are arbitrary.</summary>
    public static float[] Rent(int length, out int offset)
    {
        float[]? arr;
        lock (Gate)
        {
            arr = TakeIdle(length);
            if (arr == null)
            {
                long live = _liveFloats + length;
                if (live > _maxLiveFloats) _maxLiveFloats = live;
                long excess = live + _idleFloats - (_maxLiveFloats + _maxLiveFloats / 4);
                if (excess > 0) Evict(excess);
            }
            else _idleFloats -= Capacity(arr);
            _liveFloats += arr != null ? Capacity(arr) : length;
        }
        arr ??= GC.AllocateUninitializedArray<float>(length + Slack, pinned: true);
        offset = AlignedOffset(arr);
        return arr;
    }

    public static void Return(float[] arr)
    {
        int capacity = Capacity(arr);
        lock (Gate)
        {
            _liveFloats -= capacity;
            _idleFloats += capacity;
            if (!Idle.TryGetValue(capacity, out var c)) Idle[capacity] = c = new SizeClass();
            c.Arrays.Push(arr);
            c.LastUse = ++_tick;
        }
    }

    /// <summary>Drops every idle array (tests and long-lived processes that change shapes).</summary>
    public static void Clear()
    {
        lock (Gate)
        {
            Idle.Clear();
            _idleFloats = 0;
            _maxLiveFloats = _liveFloats;
        }
    }

    private static int Capacity(float[] arr) => arr.Length - Slack;

    /// <summary>
    /// The idle array of exactly <paramref name="length"/> floats, else the smallest at most 25% longer, else, for
    /// a large request, the smallest at most 8 times longer: during Backward the freed activations sit idle while
    /// the parameters' gradients (other sizes) are requested, and serving those from them saves allocating the
    /// gradients' memory on top of the activations'. Next step the same arrays serve the activations again.
    /// </summary>
    private static float[]? TakeIdle(int length)
    {
        if (!Idle.TryGetValue(length, out var best) || best.Arrays.Count == 0)
        {
            int smallest = int.MaxValue;
            foreach (var (capacity, c) in Idle)
                if (capacity > length && capacity < smallest && c.Arrays.Count > 0) smallest = capacity;
            if (!Accepts(length, smallest)) return null;
            best = Idle[smallest];
        }
        best.LastUse = ++_tick;
        return best.Arrays.Pop();
    }

    /// <summary>Whether a request for <paramref name="length"/> floats may take an idle array of <paramref name="capacity"/>.</summary>
    internal static bool Accepts(int length, int capacity) =>
        capacity >= length && (capacity <= length + (long)length / 4 || (length >= MinBorrowFloats && capacity <= 8L * length));

    /// <summary>Hands at least <paramref name="floats"/> idle floats to the collector, least recently used sizes first.</summary>
    private static void Evict(long floats)
    {
        long freed = 0;
        while (freed < floats && _idleFloats > 0)
        {
            int victim = 0;
            long oldest = long.MaxValue;
            foreach (var (capacity, c) in Idle)
                if (c.Arrays.Count > 0 && c.LastUse < oldest)
                {
                    oldest = c.LastUse;
                    victim = capacity;
                }
            var arrays = Idle[victim].Arrays;
            while (freed < floats && arrays.Count > 0)
            {
                arrays.Pop();
                freed += victim;
            }
            if (arrays.Count == 0) Idle.Remove(victim);
        }
        _idleFloats -= freed;
        _evictedFloats += freed;
        if (_evictedFloats >= Math.Max(_maxLiveFloats / 4, MinCollectFloats))
        {
            _evictedFloats = 0;
            GC.Collect(); // pinned arrays are only reclaimed by a full collection
        }
    }

    private static unsafe int AlignedOffset(float[] arr)
    {
        nuint addr = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (int)((64 - (addr & 63)) & 63) / sizeof(float);
    }

    private sealed class SizeClass
    {
        public readonly Stack<float[]> Arrays = new();
        public long LastUse;
    }
}
