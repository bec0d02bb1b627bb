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
/// <para>
/// Parameters' gradients (<see cref="RentPacked"/>) are packed one after another into shared arrays: they are all
/// made during Backward, while the activations backward has finished with sit idle in sizes that fit them badly (a
/// 768×768 weight's gradient in a 2048×2304 activation's array), and all handed back together at ZeroGrad. A shared
/// array goes back to the idle arrays once every gradient in it has been returned.
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

    /// <summary>
    /// Arrays shared by packed tensors, and those with room left. Both hold them weakly: a shared array whose
    /// tensors are collected without being disposed is collected with them, as any other array of the pool is.
    /// </summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<float[], Slab> Slabs = new();
    private static readonly List<WeakReference<Slab>> OpenSlabs = new();
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

    /// <summary>
    /// Like <see cref="Rent"/>, for tensors that live and die together (parameters' gradients): an array of about
    /// the right size if one is idle, else the next aligned place in a shared array with room, else a new shared
    /// array made of the smallest idle array that holds the request, else a new array.
    /// </summary>
    public static float[] RentPacked(int length, out int offset)
    {
        lock (Gate)
        {
            if (!Idle.TryGetValue(length, out var exact) || exact.Arrays.Count == 0)
            {
                OpenSlabs.RemoveAll(w => !w.TryGetTarget(out _));
                foreach (var w in OpenSlabs)
                    if (w.TryGetTarget(out var slab) && slab.Next + length <= slab.Array.Length)
                        return Carve(slab, length, out offset);
                int smallest = int.MaxValue;
                foreach (var (capacity, c) in Idle)
                    if (capacity >= length && capacity < smallest && c.Arrays.Count > 0) smallest = capacity;
                if (smallest != int.MaxValue && smallest > length + (long)length / 4) // no array of about the right size
                {
                    float[] shared = TakeFrom(Idle[smallest]);
                    _idleFloats -= smallest;
                    _liveFloats += smallest;
                    if (_liveFloats > _maxLiveFloats) _maxLiveFloats = _liveFloats;
                    var slab = new Slab(shared, AlignedOffset(shared));
                    Slabs.Add(shared, slab);
                    OpenSlabs.Add(slab.Open);
                    return Carve(slab, length, out offset);
                }
            }
        }
        return Rent(length, out offset);
    }

    /// <summary>The next 64-byte-aligned <paramref name="length"/> floats of <paramref name="slab"/>.</summary>
    private static float[] Carve(Slab slab, int length, out int offset)
    {
        offset = slab.Next;
        slab.Next = offset + (length + 15) / 16 * 16;
        slab.Pieces++;
        if (slab.Next + 16 > slab.Array.Length) OpenSlabs.Remove(slab.Open); // full
        return slab.Array;
    }

    public static void Return(float[] arr)
    {
        int capacity = Capacity(arr);
        lock (Gate)
        {
            if (Slabs.TryGetValue(arr, out var slab))
            {
                if (--slab.Pieces > 0) return;
                Slabs.Remove(arr);
                OpenSlabs.Remove(slab.Open);
            }
            _liveFloats -= capacity;
            _idleFloats += capacity;
            if (!Idle.TryGetValue(capacity, out var c)) Idle[capacity] = c = new SizeClass();
            c.Arrays.Push(arr);
            c.LastUse = ++_tick;
        }
    }

    /// <summary>Drops every idle array and stops filling shared ones (tests and long-lived processes that change shapes).</summary>
    public static void Clear()
    {
        lock (Gate)
        {
            Idle.Clear();
            OpenSlabs.Clear();
            _idleFloats = 0;
            _maxLiveFloats = _liveFloats;
        }
    }

    private static int Capacity(float[] arr) => arr.Length - Slack;

    /// <summary>The idle arrays by size, largest share first, and the shared arrays of packed tensors (diagnostics).</summary>
    internal static string DescribeIdle()
    {
        lock (Gate)
            return string.Join(" ", Idle.Where(kv => kv.Value.Arrays.Count > 0).OrderByDescending(kv => (long)kv.Key * kv.Value.Arrays.Count)
                .Select(kv => $"{kv.Key * 4 / 1e6:F1}MBx{kv.Value.Arrays.Count}")) + $" | shared arrays with room {OpenSlabs.Count}";
    }

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
        return TakeFrom(best);
    }

    private static float[] TakeFrom(SizeClass c)
    {
        c.LastUse = ++_tick;
        return c.Arrays.Pop();
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

    /// <summary>An array shared by packed tensors: where the next one goes, and how many are still out.</summary>
    private sealed class Slab
    {
        public readonly float[] Array;
        public readonly WeakReference<Slab> Open;
        public int Next;
        public int Pieces;

        public Slab(float[] array, int next)
        {
            Array = array;
            Next = next;
            Open = new WeakReference<Slab>(this);
        }
    }

    private sealed class SizeClass
    {
        public readonly Stack<float[]> Arrays = new();
        public long LastUse;
    }
}
