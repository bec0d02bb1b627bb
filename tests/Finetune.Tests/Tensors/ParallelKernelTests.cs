using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

/// <summary>
/// The elementwise and row kernels split their work over threads only above a size; at such sizes (and odd
/// widths) their outputs and gradients must be bit-identical whatever the thread count.
/// </summary>
[Collection("Parallelism")]
public class ParallelKernelTests
{
    public static TheoryData<string> Ops() => new() { "LayerNorm", "Embedding", "AddBroadcast", "AddSameShape", "Gelu", "Dropout", "MultiHeadAttention", "MultiHeadAttentionPacked", "LinearStacked", "AddLayerNorm" };

    [Theory]
    [MemberData(nameof(Ops))]
    public void OutputsAndGradientsDoNotDependOnTheThreadCount(string op)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 1;
            var one = Run(op);
            Parallelism.Threads = 3;
            var three = Run(op);
            Assert.Equal(one.Length, three.Length);
            for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], three[i]);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    /// <summary>The op's output followed by every input gradient, for a random upstream gradient.</summary>
    private static float[][] Run(string op)
    {
        var rng = new Generator(5);
        Tensor P(params int[] shape)
        {
            var t = Tensor.Randn(rng, 1f, shape);
            t.RequiresGrad = true;
            return t;
        }
        Tensor[] inputs;
        Tensor y;
        switch (op)
        {
            case "LayerNorm":
                inputs = [P(5, 301, 37), P(37), P(37)];
                y = F.LayerNorm(inputs[0], inputs[1], inputs[2], 1e-5f);
                break;
            case "AddLayerNorm":
                inputs = [P(5, 301, 37), P(5, 301, 37), P(37), P(37)];
                y = F.AddLayerNorm(inputs[0], inputs[1], inputs[2], inputs[3], 1e-5f);
                break;
            case "Embedding":
                inputs = [P(1000, 67)];
                var ids = Enumerable.Range(0, 2000).Select(i => (i * 7919) % 1000).ToArray();
                y = F.Embedding(IntTensor.FromArray(ids, 40, 50), inputs[0], paddingIdx: 3);
                break;
            case "AddBroadcast":
                inputs = [P(90, 13, 41), P(13, 41)];
                y = F.Add(inputs[0], inputs[1]);
                break;
            case "AddSameShape":
                inputs = [P(9, 5003), P(9, 5003)];
                y = F.Add(inputs[0], inputs[1]);
                break;
            case "Gelu":
                inputs = [P(7, 9001)];
                y = F.Gelu(inputs[0]);
                break;
            case "Dropout":
                inputs = [P(3, 70001)];
                y = F.Dropout(inputs[0], 0.1f, training: true, new Generator(11));
                break;
            case "MultiHeadAttentionPacked":
                inputs = [P(6, 37, 120)];
                var pmask = Enumerable.Range(0, 6 * 37).Select(i => i % 37 < 30 + i / 37 ? 1 : 0).ToArray();
                y = F.MultiHeadAttentionPacked(inputs[0], 4, IntTensor.FromArray(pmask, 6, 37), 0.1f, true, new Generator(13));
                break;
            case "LinearStacked":
                inputs = [P(300, 33), P(70, 33), P(45, 33), P(70), P(45)];
                y = F.LinearStacked(inputs[0], inputs[1..3], inputs[3..]);
                break;
            default:
                inputs = [P(6, 37, 40), P(6, 37, 40), P(6, 37, 40)];
                var mask = Enumerable.Range(0, 6 * 37).Select(i => i % 37 < 30 + i / 37 ? 1 : 0).ToArray();
                y = F.MultiHeadAttention(inputs[0], inputs[1], inputs[2], 4, IntTensor.FromArray(mask, 6, 37), 0.1f, true, new Generator(13));
                break;
        }
        var seed = Tensor.Randn(rng, 1f, y.Shape);
        var output = y.ToArray();
        y.Backward(seed);
        return [output, .. inputs.Select(t => t.Grad!.ToArray())];
    }
}
