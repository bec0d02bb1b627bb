using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// The attention probabilities softmax(q·kᵀ/√d + mask) of one layer, recomputed outside the graph for
/// output_attentions (the fused attention kernel does not hand them out). Masked keys get float.MinValue
/// added, as in the forward pass.
/// </summary>
public static class AttentionWeights
{
    /// <summary>From projections laid out [batch, seq, heads·head_dim]; returns [batch, heads, q_seq, k_seq].</summary>
    public static Tensor Compute(Tensor q, Tensor k, int heads, IntTensor? attentionMask)
    {
        int b = q.Shape[0], t = q.Shape[1], c = q.Shape[2], tk = k.Shape[1], d = c / heads;
        float scale = 1f / MathF.Sqrt(d);
        var probs = Tensor.Zeros(b, heads, t, tk);
        var qs = q.Span;
        var ks = k.Span;
        var ps = probs.Span;
        for (int bh = 0; bh < b * heads; bh++)
        {
            int batch = bh / heads, h = bh % heads;
            for (int i = 0; i < t; i++)
            {
                var row = ps.Slice((bh * t + i) * tk, tk);
                var qi = qs.Slice((batch * t + i) * c + h * d, d);
                for (int j = 0; j < tk; j++)
                {
                    row[j] = TensorPrimitives.Dot(qi, ks.Slice((batch * tk + j) * c + h * d, d)) * scale;
                    if (attentionMask != null && attentionMask.Span[batch * tk + j] == 0) row[j] += float.MinValue;
                }
                TensorPrimitives.SoftMax(row, row);
            }
        }
        return probs;
    }
}
