using System.Runtime.CompilerServices;

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

    /// <summary>The process-wide default stream used when an op or layer is given none (like torch's default generator).</summary>
    public static Generator Default { get; private set; } = new(42);

    /// <summary>Reseeds <see cref="Default"/> (the analogue of torch.manual_seed).</summary>
    public static void ManualSeed(ulong seed) => Default = new Generator(seed);

    public void Reseed(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
        _spareNormal = null;
    }

    public ulong NextUInt64()
    {
        ulong result = RotL(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotL(_s3, 45);
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

    /// <summary>
    /// Dropout keep-mask: two draws per call of <see cref="NextUInt64"/> (low half, then high half), each
    /// <paramref name="keep"/> when below <paramref name="threshold"/> and 0 otherwise. The state stays in
    /// registers for the whole fill; the stream is exactly the one NextUInt64 gives.
    /// </summary>
    internal void FillKeepMask(Span<float> dst, uint threshold, float keep)
    {
        ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        ref float d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
        int n = dst.Length, i = 0;
        for (; i < n; i += 2)
        {
            ulong bits = RotL(s1 * 5, 7) * 9;
            ulong t = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t;
            s3 = RotL(s3, 45);
            Unsafe.Add(ref d, i) = (uint)bits < threshold ? keep : 0f;
            if (i + 1 < n) Unsafe.Add(ref d, i + 1) = (uint)(bits >> 32) < threshold ? keep : 0f;
        }
        _s0 = s0;
        _s1 = s1;
        _s2 = s2;
        _s3 = s3;
    }

    /// <summary>
    /// The same keep decisions as <see cref="FillKeepMask"/> for <paramref name="count"/> elements, one bit each
    /// (element i is bit i % 64 of word i / 64), from the same stream.
    /// </summary>
    internal void FillKeepBits(Span<ulong> dst, int count, uint threshold)
    {
        ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        for (int w = 0; w * 64 < count; w++)
        {
            int m = Math.Min(64, count - w * 64);
            ulong word = 0;
            for (int j = 0; j < m; j += 2)
            {
                ulong bits = RotL(s1 * 5, 7) * 9;
                ulong t = s1 << 17;
                s2 ^= s0;
                s3 ^= s1;
                s1 ^= s2;
                s0 ^= s3;
                s2 ^= t;
                s3 = RotL(s3, 45);
                word |= ((uint)bits < threshold ? 1UL : 0UL) << j;
                if (j + 1 < m) word |= ((uint)(bits >> 32) < threshold ? 1UL : 0UL) << (j + 1);
            }
            dst[w] = word;
        }
        _s0 = s0;
        _s1 = s1;
        _s2 = s2;
        _s3 = s3;
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
