using Finetune.Tensors;
using Xunit;

namespace Finetune.Tests.Tensors;

public class KeepMaskTests
{
    // The dropout mask must be the stream NextUInt64 defines: low 32 bits for even positions, high for odd.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(1000)]
    public void FillKeepMaskFollowsNextUInt64(int length)
    {
        const uint threshold = 3u << 30; // keep probability 0.75
        var fast = new float[length];
        new Generator(123).FillKeepMask(fast, threshold, 4f / 3f);
        var reference = new Generator(123);
        for (int i = 0; i < length; i += 2)
        {
            ulong bits = reference.NextUInt64();
            Assert.Equal((uint)bits < threshold ? 4f / 3f : 0f, fast[i]);
            if (i + 1 < length) Assert.Equal((uint)(bits >> 32) < threshold ? 4f / 3f : 0f, fast[i + 1]);
        }
    }

    [Fact]
    public void FillKeepMaskLeavesTheGeneratorWhereNextUInt64Would()
    {
        var a = new Generator(9);
        a.FillKeepMask(new float[5], uint.MaxValue / 2, 2f);
        var b = new Generator(9);
        for (int i = 0; i < 3; i++) b.NextUInt64();
        Assert.Equal(b.NextUInt64(), a.NextUInt64());
    }
}
