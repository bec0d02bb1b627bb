using System.Numerics;

namespace Finetune.Data;

/// <summary>
/// numpy's default generator, `np.random.default_rng(seed)`: PCG64 (XSL-RR 128/64) seeded through SeedSequence,
/// with the exact integer algorithms numpy uses for `permutation` (Fisher-Yates with masked rejection) and
/// `choice(replace=False)` (tail shuffle or Floyd, Lemire bounded integers). Hugging Face `Dataset.shuffle(seed)`
/// and `train_test_split(seed=...)` draw from this generator, so the same seed gives the same rows as Python.
/// </summary>
public sealed class NumpyRandom
{
    private static readonly UInt128 Multiplier = new(2549297995355413924UL, 4865540595714422341UL);
    private UInt128 _state;
    private readonly UInt128 _inc;
    private bool _hasUint32;
    private uint _uinteger;

    public NumpyRandom(ulong seed)
    {
        ulong[] words = SeedSequenceState(seed, 4);
        var initState = new UInt128(words[0], words[1]);
        var initSeq = new UInt128(words[2], words[3]);
        _state = 0;
        _inc = (initSeq << 1) | 1;
        Step();
        _state += initState;
        Step();
    }

    private void Step() => _state = unchecked(_state * Multiplier + _inc);

    public ulong NextUInt64()
    {
        Step();
        ulong hi = (ulong)(_state >> 64), lo = (ulong)_state;
        int rot = (int)(hi >> 58);
        return BitOperations.RotateRight(hi ^ lo, rot);
    }

    public uint NextUInt32()
    {
        if (_hasUint32)
        {
            _hasUint32 = false;
            return _uinteger;
        }
        ulong next = NextUInt64();
        _hasUint32 = true;
        _uinteger = (uint)(next >> 32);
        return (uint)next;
    }

    /// <summary>`rng.random()`: a double in [0, 1) from the top 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / 9007199254740992.0);

    /// <summary>numpy's random_interval: uniform in [0, max] by masked rejection.</summary>
    public ulong Interval(ulong max)
    {
        if (max == 0) return 0;
        ulong mask = Mask(max), value;
        if (max <= 0xFFFFFFFFUL)
        {
            while ((value = NextUInt32() & mask) > max) { }
        }
        else
        {
            while ((value = NextUInt64() & mask) > max) { }
        }
        return value;
    }

    /// <summary>numpy's random_bounded_uint64(off=0, rng) without masking: Lemire's method.</summary>
    public ulong Bounded(ulong rng)
    {
        if (rng == 0) return 0;
        if (rng <= 0xFFFFFFFFUL)
        {
            if (rng == 0xFFFFFFFFUL) return NextUInt32();
            uint rngExcl = (uint)rng + 1;
            ulong m = (ulong)NextUInt32() * rngExcl;
            uint leftover = (uint)m;
            if (leftover < rngExcl)
            {
                uint threshold = (uint.MaxValue - (uint)rng) % rngExcl;
                while (leftover < threshold)
                {
                    m = (ulong)NextUInt32() * rngExcl;
                    leftover = (uint)m;
                }
            }
            return m >> 32;
        }
        if (rng == ulong.MaxValue) return NextUInt64();
        ulong excl = rng + 1;
        UInt128 mm = (UInt128)NextUInt64() * excl;
        ulong left = (ulong)mm;
        if (left < excl)
        {
            ulong threshold = (ulong.MaxValue - rng) % excl;
            while (left < threshold)
            {
                mm = (UInt128)NextUInt64() * excl;
                left = (ulong)mm;
            }
        }
        return (ulong)(mm >> 64);
    }

    private static ulong Mask(ulong max)
    {
        ulong mask = max;
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4;
        mask |= mask >> 8; mask |= mask >> 16; mask |= mask >> 32;
        return mask;
    }

    /// <summary>`rng.permutation(n)`.</summary>
    public int[] Permutation(int n)
    {
        var a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        Shuffle(a);
        return a;
    }

    /// <summary>`rng.shuffle(x)` for a 1-d array.</summary>
    public void Shuffle<T>(T[] x)
    {
        for (int i = x.Length - 1; i >= 1; i--)
        {
            int j = (int)Interval((ulong)i);
            (x[i], x[j]) = (x[j], x[i]);
        }
    }

    private void ShuffleInt(long[] data, int n, int first)
    {
        for (int i = n - 1; i >= first; i--)
        {
            int j = (int)Bounded((ulong)i);
            (data[i], data[j]) = (data[j], data[i]);
        }
    }

    /// <summary>`rng.choice(popSize, size, replace=False)` (shuffle=True): indices in numpy's order.</summary>
    public long[] ChoiceWithoutReplacement(int popSize, int size)
    {
        if (size > popSize) throw new ArgumentException("Cannot take a larger sample than population when replace is False");
        if (size == 0) return [];
        if (popSize > 10000 && size > popSize / 50)
        {
            var idx = new long[popSize];
            for (int i = 0; i < popSize; i++) idx[i] = i;
            ShuffleInt(idx, popSize, Math.Max(popSize - size, 1));
            return idx.AsSpan(popSize - size).ToArray();
        }
        var outIdx = new long[size];
        ulong setSize = (ulong)(1.2 * size);
        ulong mask = Mask(setSize);
        var hash = new ulong[mask + 1];
        Array.Fill(hash, ulong.MaxValue);
        for (long j = popSize - size; j < popSize; j++)
        {
            ulong val = Bounded((ulong)j);
            ulong loc = val & mask;
            while (hash[loc] != ulong.MaxValue && hash[loc] != val) loc = (loc + 1) & mask;
            if (hash[loc] == ulong.MaxValue)
            {
                hash[loc] = val;
                outIdx[j - popSize + size] = (long)val;
            }
            else
            {
                loc = (ulong)j & mask;
                while (hash[loc] != ulong.MaxValue) loc = (loc + 1) & mask;
                hash[loc] = (ulong)j;
                outIdx[j - popSize + size] = j;
            }
        }
        ShuffleInt(outIdx, size, 1);
        return outIdx;
    }

    /// <summary>numpy SeedSequence(seed).generate_state(nWords, uint64).</summary>
    internal static ulong[] SeedSequenceState(ulong seed, int nWords)
    {
        const uint InitA = 0x43b0d7e5, MultA = 0x931e8875, InitB = 0x8b51f9dd, MultB = 0x58f38ded;
        const uint MixMultL = 0xca01f9dd, MixMultR = 0x4973f715;
        // The integer seed as little-endian 32-bit words (at least one word).
        var entropy = new List<uint>();
        ulong s = seed;
        do { entropy.Add((uint)s); s >>= 32; } while (s != 0);

        uint hashConst = InitA;
        uint HashMix(uint value)
        {
            unchecked
            {
                value ^= hashConst;
                hashConst *= MultA;
                value *= hashConst;
                value ^= value >> 16;
                return value;
            }
        }
        static uint Mix(uint x, uint y)
        {
            unchecked
            {
                uint r = MixMultL * x - MixMultR * y;
                r ^= r >> 16;
                return r;
            }
        }
        var pool = new uint[4];
        for (int i = 0; i < pool.Length; i++) pool[i] = HashMix(i < entropy.Count ? entropy[i] : 0u);
        for (int src = 0; src < pool.Length; src++)
        {
            for (int dst = 0; dst < pool.Length; dst++)
            {
                if (src != dst) pool[dst] = Mix(pool[dst], HashMix(pool[src]));
            }
        }
        for (int src = pool.Length; src < entropy.Count; src++)
        {
            for (int dst = 0; dst < pool.Length; dst++) pool[dst] = Mix(pool[dst], HashMix(entropy[src]));
        }
        var words32 = new uint[nWords * 2];
        uint hb = InitB;
        unchecked
        {
            for (int i = 0; i < words32.Length; i++)
            {
                uint v = pool[i % pool.Length];
                v ^= hb;
                hb *= MultB;
                v *= hb;
                v ^= v >> 16;
                words32[i] = v;
            }
        }
        var result = new ulong[nWords];
        for (int i = 0; i < nWords; i++) result[i] = words32[2 * i] | ((ulong)words32[2 * i + 1] << 32);
        return result;
    }
}
