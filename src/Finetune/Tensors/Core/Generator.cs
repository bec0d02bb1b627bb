using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Finetune.Tensors;

/// <summary>
/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64) for initialisation and dropout.
/// The same seed gives the same stream on every machine. Not thread-safe: use one per thread or lock.
/// </summary>
public sealed class Generator
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    public Generator(ulong seed) => Reseed(seed);

    private static readonly Generator ProcessDefault = new(42);
    private static readonly AsyncLocal<Generator?> Seeded = new();

    /// <summary>
    /// The default stream used when an op or layer is given none (like torch's default generator). After
    /// <see cref="ManualSeed"/> it is that seed's stream in the calling flow (the thread and the tasks it starts) only,
    /// so two trainers in one process, or a server beside a trainer, never draw from each other's stream.
    /// </summary>
    public static Generator Default => Seeded.Value ?? ProcessDefault;

    /// <summary>Reseeds <see cref="Default"/> for the calling flow (the analogue of torch.manual_seed).</summary>
    public static void ManualSeed(ulong seed) => Seeded.Value = new Generator(seed);

    public void Reseed(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
        _spareNormal = null;
    }

    public ulong NextUInt64() => Step(ref _s0, ref _s1, ref _s2, ref _s3);

    /// <summary>One xoshiro256** step of the state (s0, s1, s2, s3): the output, and the state advanced.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Step(ref ulong s0, ref ulong s1, ref ulong s2, ref ulong s3)
    {
        ulong result = RotL(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = RotL(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) % (ulong)n);

    /// <summary>Standard normal sample (Box-Muller).</summary>
    public double NextNormal()
    {
        if (_spareNormal is double s)
        {
            _spareNormal = null;
            return s;
        }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fills <paramref name="dst"/> with normal samples of the given mean and standard deviation.</summary>
    public void FillNormal(Span<float> dst, float mean = 0f, float std = 1f)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)(mean + std * NextNormal());
    }

    /// <summary>Fills <paramref name="dst"/> with uniform samples in [lo, hi).</summary>
    public void FillUniform(Span<float> dst, float lo = 0f, float hi = 1f)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = lo + (hi - lo) * NextFloat();
    }

    /// <summary>Whether <see cref="FillKeepBits"/> runs its lanes in one Vector512 (else one by one); tests switch it off.</summary>
    internal static bool UseVector512 { get; set; } = Vector512.IsHardwareAccelerated;

    private const int KeepLanes = 8;

    /// <summary>
    /// Dropout keep-mask: each element is <paramref name="keep"/> when a uniform 32-bit draw is below
    /// <paramref name="threshold"/>, else 0. The draws come from eight xoshiro256** lanes, each seeded through
    /// SplitMix64 from one <see cref="NextUInt64"/> of this generator (which so advances by eight); step t of
    /// lane l fills elements 16t + 2l (low 32 bits) and 16t + 2l + 1 (high 32 bits). The lanes run side by side
    /// in a Vector512, or one after another where that is not accelerated: the same mask either way. It is
    /// <see cref="FillKeepBits"/>'s decisions spelled out as floats.
    /// </summary>
    internal void FillKeepMask(Span<float> dst, uint threshold, float keep)
    {
        var words = new ulong[(dst.Length + 63) / 64];
        FillKeepBits(words, dst.Length, threshold);
        for (int i = 0; i < dst.Length; i++) dst[i] = ((words[i >> 6] >> (i & 63)) & 1) != 0 ? keep : 0f;
    }

    /// <summary>
    /// The same keep decisions as <see cref="FillKeepMask"/> for <paramref name="count"/> elements, from the same
    /// lanes, one bit each (element i is bit i % 64 of word i / 64; bits past the count are 0).
    /// </summary>
    internal void FillKeepBits(Span<ulong> dst, int count, uint threshold)
    {
        Span<ulong> st = stackalloc ulong[4 * KeepLanes];
        for (int l = 0; l < KeepLanes; l++)
        {
            ulong x = NextUInt64();
            for (int w = 0; w < 4; w++) st[w * KeepLanes + l] = SplitMix(ref x);
        }
        dst[..((count + 63) / 64)].Clear();
        if (UseVector512) FillKeepBitsVector(dst, count, threshold, st);
        else FillKeepBitsLanes(dst, count, threshold, st);
    }

    private static void FillKeepBitsVector(Span<ulong> dst, int count, uint threshold, ReadOnlySpan<ulong> st)
    {
        var s0 = Vector512.Create(st[..8]);
        var s1 = Vector512.Create(st.Slice(8, 8));
        var s2 = Vector512.Create(st.Slice(16, 8));
        var s3 = Vector512.Create(st.Slice(24, 8));
        var vt = Vector512.Create(threshold);
        for (int i = 0; i < count; i += 2 * KeepLanes)
        {
            var m5 = (s1 << 2) + s1;
            var r = (m5 << 7) | Vector512.ShiftRightLogical(m5, 57);
            var bits = (r << 3) + r;
            var t = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t;
            s3 = (s3 << 45) | Vector512.ShiftRightLogical(s3, 19);
            // uint lane j is element i + j (lane l's low half at 2l, high half at 2l + 1), as in the float mask
            ulong keep = Vector512.LessThan(bits.AsUInt32(), vt).ExtractMostSignificantBits();
            if (count - i < 2 * KeepLanes) keep &= (1UL << (count - i)) - 1;
            dst[i >> 6] |= keep << (i & 63);
        }
    }

    private static void FillKeepBitsLanes(Span<ulong> dst, int count, uint threshold, ReadOnlySpan<ulong> st)
    {
        for (int l = 0; l < KeepLanes; l++)
        {
            ulong s0 = st[l], s1 = st[KeepLanes + l], s2 = st[2 * KeepLanes + l], s3 = st[3 * KeepLanes + l];
            for (int i = 2 * l; i < count; i += 2 * KeepLanes)
            {
                ulong bits = Step(ref s0, ref s1, ref s2, ref s3);
                if ((uint)bits < threshold) dst[i >> 6] |= 1UL << (i & 63);
                if (i + 1 < count && (uint)(bits >> 32) < threshold) dst[(i + 1) >> 6] |= 1UL << ((i + 1) & 63);
            }
        }
    }

    private static ulong RotL(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
