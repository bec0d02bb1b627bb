using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

/// <summary>
/// <see cref="F.LinearStacked"/> reads each weight where it lives instead of copying them into one matrix: its output
/// must have the bits of one Linear over the concatenated weights and biases (the product it replaces), for segment
/// widths that do and do not fall on the kernels' column slivers, at one and all threads, on both kernels.
/// </summary>
[Collection("Parallelism")]
public class StackedGemmTests
{
    public static TheoryData<int, int, string, bool> Cases() => new()
    {
        { 1, 70, "5,37,64", true },
        { 32, 384, "384,384,384", true },
        { 32, 768, "768,768,768", false },
        { 7, 600, "33,100,200", true },
        { 300, 520, "64,31,97", true },
        { 300, 520, "64,31,97", false },
        { 130, 64, "16,16", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesOneLinearOverTheConcatenatedWeightsBitForBit(int rows, int inF, string outs, bool withBias)
    {
        int[] widths = outs.Split(',').Select(int.Parse).ToArray();
        var rng = new Generator((ulong)(rows * 31 + inF));
        Tensor x = Tensor.Randn(rng, 1f, rows, inF);
        Tensor[] ws = widths.Select(w => Tensor.Randn(rng, 1f, w, inF)).ToArray();
        Tensor[] bs = widths.Select(w => Tensor.Randn(rng, 1f, w)).ToArray();
        Tensor wcat = Tensor.FromArray(ws.SelectMany(w => w.ToArray()).ToArray(), widths.Sum(), inF);
        Tensor bcat = Tensor.FromArray(bs.SelectMany(b => b.ToArray()).ToArray(), widths.Sum());
        int saved = Parallelism.Threads;
        bool savedWide = GemmKernels.UseVector512;
        try
        {
            foreach (bool wide in savedWide ? new[] { true, false } : new[] { false })
                foreach (int threads in new[] { 1, Math.Max(2, Environment.ProcessorCount) })
                {
                    GemmKernels.UseVector512 = wide;
                    Parallelism.Threads = threads;
                    using var _ = Tensor.NoGrad();
                    float[] expected = F.Linear(x, wcat, withBias ? bcat : null).ToArray();
                    float[] actual = F.LinearStacked(x, ws, withBias ? bs : null).ToArray();
                    Assert.Equal(expected.Length, actual.Length);
                    for (int i = 0; i < expected.Length; i++)
                        if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                            Assert.Fail($"threads={threads} wide={wide}: element {i} is {actual[i]}, the concatenated product gives {expected[i]}");
                }
        }
        finally
        {
            Parallelism.Threads = saved;
            GemmKernels.UseVector512 = savedWide;
        }
    }
}
