using Finetune.Tensors;
using Finetune.Tensors.Kernels;
using Xunit;

namespace Finetune.Tests.Tensors;

[Collection("Parallelism")]
public class KeepMaskTests
{
    private const uint Threshold = 3u << 30; // keep probability 0.75

    /// <summary>
    /// The mask written from first principles: eight xoshiro256** lanes, lane l seeded through SplitMix64 from
    /// the generator's l-th draw; step t of lane l gives elements 16t + 2l (low half) and 16t + 2l + 1 (high half).
    /// </summary>
    private static float[] Expected(ulong seed, int length, float keep)
    {
        var source = new Generator(seed);
        var y = new float[length];
        for (int l = 0; l < 8; l++)
        {
            var lane = new LaneReference(source.NextUInt64());
            for (int i = 2 * l; i < length; i += 16)
            {
                ulong bits = lane.Next();
                y[i] = (uint)bits < Threshold ? keep : 0f;
                if (i + 1 < length) y[i + 1] = (uint)(bits >> 32) < Threshold ? keep : 0f;
            }
        }
        return y;
    }

    /// <summary>SplitMix64 seeding and xoshiro256** as published (Blackman and Vigna).</summary>
    private sealed class LaneReference
    {
        private readonly ulong[] _s = new ulong[4];

        public LaneReference(ulong x)
        {
            for (int i = 0; i < 4; i++)
            {
                x += 0x9E3779B97F4A7C15UL;
                ulong z = x;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                _s[i] = z ^ (z >> 31);
            }
        }

        public ulong Next()
        {
            ulong result = ulong.RotateLeft(_s[1] * 5, 7) * 9;
            ulong t = _s[1] << 17;
            _s[2] ^= _s[0];
            _s[3] ^= _s[1];
            _s[1] ^= _s[2];
            _s[0] ^= _s[3];
            _s[2] ^= t;
            _s[3] = ulong.RotateLeft(_s[3], 45);
            return result;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(1000)]
    public void FillKeepMaskFollowsTheLaneDefinitionOnBothPaths(int length)
    {
        bool saved = Generator.UseVector512;
        try
        {
            foreach (bool vector in new[] { true, false })
            {
                Generator.UseVector512 = vector;
                var mask = new float[length];
                new Generator(123).FillKeepMask(mask, Threshold, 4f / 3f);
                Assert.Equal(Expected(123, length, 4f / 3f), mask);
            }
        }
        finally
        {
            Generator.UseVector512 = saved;
        }
    }

    [Fact]
    public void FillKeepMaskAdvancesTheGeneratorByEightDraws()
    {
        var a = new Generator(9);
        a.FillKeepMask(new float[5], uint.MaxValue / 2, 2f);
        var b = new Generator(9);
        for (int i = 0; i < 8; i++) b.NextUInt64();
        Assert.Equal(b.NextUInt64(), a.NextUInt64());
    }

    [Fact]
    public void KeptFractionMatchesTheThreshold()
    {
        var mask = new float[1 << 16];
        new Generator(77).FillKeepMask(mask, Threshold, 1f);
        double kept = mask.Average();
        Assert.InRange(kept, 0.75 - 0.01, 0.75 + 0.01);
    }
}
