using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;

namespace Finetune.Models;

/// <summary>
/// The attention probabilities softmax(q·kᵀ/√d + mask) of one layer, recomputed outside the graph for
/// output_attentions (the fused attention kernel does not hand them out). Masked keys get float.MinValue
/// added, as in the forward pass.
/// </summary>
public static class AttentionWeights
{
    public static Tensor Compute(Tensor q, Tensor k, IntTensor? attentionMask)
    {
        int b = q.Shape[0], h = q.Shape[1], t = q.Shape[2], d = q.Shape[3], tk = k.Shape[2];
        float scale = 1f / MathF.Sqrt(d);
        var probs = Tensor.Zeros(b, h, t, tk);
        var qs = q.Span;
        var ks = k.Span;
        var ps = probs.Span;
        for (int bh = 0; bh < b * h; bh++)
        {
            int batch = bh / h;
            for (int i = 0; i < t; i++)
            {
                var row = ps.Slice((bh * t + i) * tk, tk);
                var qi = qs.Slice((bh * t + i) * d, d);
                for (int j = 0; j < tk; j++)
                {
                    row[j] = TensorPrimitives.Dot(qi, ks.Slice((bh * tk + j) * d, d)) * scale;
                    if (attentionMask != null && attentionMask.Span[batch * tk + j] == 0) row[j] += float.MinValue;
                }
                TensorPrimitives.SoftMax(row, row);
            }
        }
        return probs;
    }
}
