using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Finetune.Tensors;

namespace Finetune.Nn;

public static partial class F
{
    /// <summary>
    /// softmax(q·kᵀ·scale + mask)·v over [batch, heads, seq, head_dim], fused with its backward pass.
    /// <paramref name="attentionMask"/> [batch, key_seq] holds 1 for tokens to attend to and 0 for padding;
    /// masked keys get float.MinValue added to their scores, as transformers' extended attention mask does.
    /// The scale defaults to 1/√head_dim. Dropout on the probabilities applies when <paramref name="training"/>.
    /// </summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, IntTensor? attentionMask = null,
        float dropoutP = 0f, bool training = false, Generator? rng = null, float? scale = null)
    {
        RequireRank(q, 4, "ScaledDotProductAttention(q)");
        RequireRank(k, 4, "ScaledDotProductAttention(k)");
        RequireRank(v, 4, "ScaledDotProductAttention(v)");
        int bsz = q.Shape[0], heads = q.Shape[1], tq = q.Shape[2], d = q.Shape[3];
        int tk = k.Shape[2], dv = v.Shape[3];
        if (k.Shape[0] != bsz || k.Shape[1] != heads || k.Shape[3] != d || v.Shape[0] != bsz || v.Shape[1] != heads || v.Shape[2] != tk)
            throw new ArgumentException($"ScaledDotProductAttention: q {Tensor.ShapeString(q.Shape)}, k {Tensor.ShapeString(k.Shape)}, v {Tensor.ShapeString(v.Shape)} do not match.");
        float[]? maskAdd = null;
        if (attentionMask != null)
        {
            if (attentionMask.Length != bsz * tk)
                throw new ArgumentException($"ScaledDotProductAttention: attention mask {attentionMask} does not match batch {bsz} × key length {tk}.");
            maskAdd = new float[bsz * tk];
            var m = attentionMask.Span;
            for (int i = 0; i < maskAdd.Length; i++) maskAdd[i] = m[i] == 0 ? float.MinValue : 0f;
        }
        float sc = scale ?? 1f / MathF.Sqrt(d);
        bool drop = training && dropoutP > 0f;
        Tensor probs = Tensor.Empty(bsz, heads, tq, tk);
        Tensor? dropMask = drop ? DropoutMask(probs.Length, dropoutP, rng ?? Generator.Default) : null;
        Tensor attn = drop ? Tensor.Empty(probs.Shape) : probs;
        Tensor y = Tensor.Empty(bsz, heads, tq, dv);
        AttentionKernels.Forward(q, k, v, maskAdd, sc, probs, dropMask, attn, y);
        if (Autograd.Tracks(q, k, v))
            Autograd.Record(y, "ScaledDotProductAttention", [q, k, v], g =>
            {
                Tensor dq = Tensor.Empty(q.Shape), dk = Tensor.Empty(k.Shape), dvv = Tensor.Empty(v.Shape);
                AttentionKernels.Backward(q, k, v, sc, probs, dropMask, attn, g, dq, dk, dvv);
                Autograd.Send(q, dq.Span);
                Autograd.Send(k, dk.Span);
                Autograd.Send(v, dvv.Span);
                dq.Dispose();
                dk.Dispose();
                dvv.Dispose();
            });
        return y;
    }
}

/// <summary>Per (batch, head) attention blocks, parallel over batch×heads, with the small-GEMM path.</summary>
internal static unsafe class AttentionKernels
{
    public static void Forward(Tensor q, Tensor k, Tensor v, float[]? maskAdd, float scale, Tensor probs, Tensor? dropMask, Tensor attn, Tensor y)
    {
        int bsz = q.Shape[0], heads = q.Shape[1], tq = q.Shape[2], d = q.Shape[3], tk = k.Shape[2], dv = v.Shape[3];
        nint pq = (nint)q.Data, pk = (nint)k.Data, pv = (nint)v.Data, pp = (nint)probs.Data, pa = (nint)attn.Data, py = (nint)y.Data;
        nint pm = dropMask != null ? (nint)dropMask.Data : 0;
        Parallelism.For(bsz * heads, (bh0, bh1) =>
        {
            for (int bh = bh0; bh < bh1; bh++)
            {
                int b = bh / heads;
                float* s = (float*)pp + (long)bh * tq * tk;
                SmallGemm.Multiply(GemmForm.NT, tq, tk, d, (float*)pq + (long)bh * tq * d, d, (float*)pk + (long)bh * tk * d, d, s, tk, false);
                for (int i = 0; i < tq; i++)
                {
                    var row = new Span<float>(s + (long)i * tk, tk);
                    TensorPrimitives.Multiply(row, scale, row);
                    if (maskAdd != null) TensorPrimitives.Add(row, maskAdd.AsSpan(b * tk, tk), row);
                    F.SoftmaxRow(row, row);
                }
                float* a = s;
                if (pm != 0)
                {
                    a = (float*)pa + (long)bh * tq * tk;
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(s, tq * tk), new ReadOnlySpan<float>((float*)pm + (long)bh * tq * tk, tq * tk), new Span<float>(a, tq * tk));
                }
                SmallGemm.Multiply(GemmForm.NN, tq, dv, tk, a, tk, (float*)pv + (long)bh * tk * dv, dv, (float*)py + (long)bh * tq * dv, dv, false);
            }
        });
        GC.KeepAlive(q);
        GC.KeepAlive(k);
        GC.KeepAlive(v);
    }

    public static void Backward(Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor? dropMask, Tensor attn, Tensor g,
        Tensor dq, Tensor dk, Tensor dvOut)
    {
        int bsz = q.Shape[0], heads = q.Shape[1], tq = q.Shape[2], d = q.Shape[3], tk = k.Shape[2], dv = v.Shape[3];
        nint pq = (nint)q.Data, pk = (nint)k.Data, pv = (nint)v.Data, pp = (nint)probs.Data, pa = (nint)attn.Data, pg = (nint)g.Data;
        nint pm = dropMask != null ? (nint)dropMask.Data : 0;
        nint pdq = (nint)dq.Data, pdk = (nint)dk.Data, pdv = (nint)dvOut.Data;
        Parallelism.For(bsz * heads, (bh0, bh1) =>
        {
            var scratch = new float[tq * tk];
            fixed (float* ds = scratch)
            {
                for (int bh = bh0; bh < bh1; bh++)
                {
                    long sOff = (long)bh * tq * tk;
                    float* p = (float*)pp + sOff, a = (float*)pa + sOff;
                    float* go = (float*)pg + (long)bh * tq * dv;
                    float* qb = (float*)pq + (long)bh * tq * d, kb = (float*)pk + (long)bh * tk * d, vb = (float*)pv + (long)bh * tk * dv;
                    // dA = dO·vᵀ ; dV = Aᵀ·dO
                    SmallGemm.Multiply(GemmForm.NT, tq, tk, dv, go, dv, vb, dv, ds, tk, false);
                    SmallGemm.Multiply(GemmForm.TN, tk, dv, tq, a, tk, go, dv, (float*)pdv + (long)bh * tk * dv, dv, false);
                    if (pm != 0)
                    {
                        var dsSpan = new Span<float>(ds, tq * tk);
                        TensorPrimitives.Multiply(dsSpan, new ReadOnlySpan<float>((float*)pm + sOff, tq * tk), dsSpan);
                    }
                    // dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
                    for (int i = 0; i < tq; i++)
                    {
                        var row = new Span<float>(ds + (long)i * tk, tk);
                        F.SoftmaxBackwardRow(new ReadOnlySpan<float>(p + (long)i * tk, tk), row, row, accumulate: false);
                        TensorPrimitives.Multiply(row, scale, row);
                    }
                    // dQ = dS·K ; dK = dSᵀ·Q
                    SmallGemm.Multiply(GemmForm.NN, tq, d, tk, ds, tk, kb, d, (float*)pdq + (long)bh * tq * d, d, false);
                    SmallGemm.Multiply(GemmForm.TN, tk, d, tq, ds, tk, qb, d, (float*)pdk + (long)bh * tk * d, d, false);
                }
            }
        });
        GC.KeepAlive(q);
        GC.KeepAlive(k);
        GC.KeepAlive(v);
        GC.KeepAlive(g);
    }
}
