using Finetune.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

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
        var dims = new AttentionDims(bsz, heads, tq, tk, d, dv, Merged: false);
        return Attention(q, k, v, dims, [bsz, heads, tq, dv], attentionMask, dropoutP, training, rng, scale);
    }

    /// <summary>
    /// The same attention on projections laid out [batch, seq, heads·head_dim] (the output of the query/key/value
    /// Linear layers), returning [batch, seq, heads·head_dim]: heads are read and written in place, so no
    /// split/merge copies are made in either pass.
    /// </summary>
    public static Tensor MultiHeadAttention(Tensor q, Tensor k, Tensor v, int numHeads, IntTensor? attentionMask = null,
        float dropoutP = 0f, bool training = false, Generator? rng = null, float? scale = null)
    {
        RequireRank(q, 3, "MultiHeadAttention(q)");
        RequireRank(k, 3, "MultiHeadAttention(k)");
        RequireRank(v, 3, "MultiHeadAttention(v)");
        int bsz = q.Shape[0], tq = q.Shape[1], c = q.Shape[2], tk = k.Shape[1];
        if (numHeads <= 0 || c % numHeads != 0 || v.Shape[2] % numHeads != 0)
            throw new ArgumentException($"MultiHeadAttention: hidden sizes {c}/{v.Shape[2]} are not divisible by {numHeads} heads.");
        if (k.Shape[0] != bsz || k.Shape[2] != c || v.Shape[0] != bsz || v.Shape[1] != tk)
            throw new ArgumentException($"MultiHeadAttention: q {Tensor.ShapeString(q.Shape)}, k {Tensor.ShapeString(k.Shape)}, v {Tensor.ShapeString(v.Shape)} do not match.");
        var dims = new AttentionDims(bsz, numHeads, tq, tk, c / numHeads, v.Shape[2] / numHeads, Merged: true);
        return Attention(q, k, v, dims, [bsz, tq, v.Shape[2]], attentionMask, dropoutP, training, rng, scale);
    }

    private static Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionDims dims, int[] outShape, IntTensor? attentionMask,
        float dropoutP, bool training, Generator? rng, float? scale)
    {
        int bsz = dims.Batch, tk = dims.Tk;
        float[]? maskAdd = null;
        if (attentionMask != null)
        {
            if (attentionMask.Length != bsz * tk)
                throw new ArgumentException($"Attention: attention mask {attentionMask} does not match batch {bsz} × key length {tk}.");
            maskAdd = new float[bsz * tk];
            var m = attentionMask.Span;
            for (int i = 0; i < maskAdd.Length; i++) maskAdd[i] = m[i] == 0 ? float.MinValue : 0f;
        }
        if (dropoutP < 0f || dropoutP > 1f) throw new ArgumentOutOfRangeException(nameof(dropoutP), $"Dropout probability {dropoutP} is outside [0, 1].");
        float sc = scale ?? 1f / MathF.Sqrt(dims.D);
        bool drop = training && dropoutP > 0f;
        Tensor probs = Tensor.Empty(bsz, dims.Heads, dims.Tq, tk);
        Tensor? dropMask = drop ? DropoutMask(probs.Length, dropoutP, rng ?? Generator.Default) : null;
        Tensor attn = drop ? Tensor.Empty(probs.Shape) : probs;
        Tensor y = Tensor.Empty(outShape);
        AttentionKernels.Forward(dims, q, k, v, maskAdd, sc, probs, dropMask, attn, y);
        bool track = Autograd.Tracks(q, k, v);
        if (!track)
        {
            // Nothing will read the probabilities again: hand their buffers straight back.
            if (drop) attn.Dispose();
            dropMask?.Dispose();
            probs.Dispose();
            return y;
        }
        Autograd.Record(y, dims.Merged ? "MultiHeadAttention" : "ScaledDotProductAttention", [q, k, v], g =>
        {
            bool aliased = ReferenceEquals(q, k) || ReferenceEquals(q, v) || ReferenceEquals(k, v);
            if (aliased)
            {
                // The same tensor in two roles: compute each gradient apart, then add them in.
                Tensor dq = Tensor.Empty(q.Shape), dk = Tensor.Empty(k.Shape), dvv = Tensor.Empty(v.Shape);
                AttentionKernels.Backward(dims, q, k, v, sc, probs, dropMask, attn, g, dq, false, dk, false, dvv, false);
                Autograd.Send(q, dq.Span);
                Autograd.Send(k, dk.Span);
                Autograd.Send(v, dvv.Span);
                dq.Dispose();
                dk.Dispose();
                dvv.Dispose();
                return;
            }
            Tensor? gq = null, gk = null, gv = null;
            bool aq = false, ak = false, av = false;
            if (Autograd.Target(q, out var tq, out aq)) gq = tq;
            if (Autograd.Target(k, out var tkk, out ak)) gk = tkk;
            if (Autograd.Target(v, out var tv, out av)) gv = tv;
            AttentionKernels.Backward(dims, q, k, v, sc, probs, dropMask, attn, g, gq, aq, gk, ak, gv, av);
        }, release: () =>
        {
            if (drop) attn.Dispose();
            dropMask?.Dispose();
            probs.Dispose();
        });
        return y;
    }
}

/// <summary>Sizes of an attention call and where each (batch, head) block of q/k/v/output lives.</summary>
internal readonly record struct AttentionDims(int Batch, int Heads, int Tq, int Tk, int D, int Dv, bool Merged)
{
    /// <summary>Start of the (b, h) block of a tensor with the given sequence length and head size.</summary>
    public long Offset(int b, int h, int seq, int dim) => Merged ? (long)b * seq * Heads * dim + (long)h * dim : ((long)b * Heads + h) * seq * dim;

    /// <summary>Distance between consecutive sequence positions inside a block.</summary>
    public int Stride(int dim) => Merged ? Heads * dim : dim;
}

/// <summary>Per (batch, head) attention blocks, parallel over batch×heads, each with the single-threaded small-GEMM path.</summary>
internal static unsafe class AttentionKernels
{
    public static void Forward(AttentionDims s, Tensor q, Tensor k, Tensor v, float[]? maskAdd, float scale, Tensor probs, Tensor? dropMask, Tensor attn, Tensor y)
    {
        int heads = s.Heads, tq = s.Tq, tk = s.Tk, d = s.D, dv = s.Dv;
        int ldq = s.Stride(d), ldv = s.Stride(dv);
        nint pq = (nint)q.Data, pk = (nint)k.Data, pv = (nint)v.Data, pp = (nint)probs.Data, pa = (nint)attn.Data, py = (nint)y.Data;
        nint pm = dropMask != null ? (nint)dropMask.Data : 0;
        Parallelism.For(s.Batch * heads, (bh0, bh1) =>
        {
            for (int bh = bh0; bh < bh1; bh++)
            {
                int b = bh / heads, h = bh % heads;
                float* sc = (float*)pp + (long)bh * tq * tk;
                SmallGemm.Multiply(GemmForm.NT, tq, tk, d, (float*)pq + s.Offset(b, h, tq, d), ldq, (float*)pk + s.Offset(b, h, tk, d), ldq, sc, tk, false);
                for (int i = 0; i < tq; i++)
                {
                    var row = new Span<float>(sc + (long)i * tk, tk);
                    // scores·scale + mask in one pass (fma with a zero addend rounds like the plain product)
                    if (maskAdd != null) TensorPrimitives.FusedMultiplyAdd(row, scale, maskAdd.AsSpan(b * tk, tk), row);
                    else TensorPrimitives.Multiply(row, scale, row);
                    F.SoftmaxRow(row, row);
                }
                float* a = sc;
                if (pm != 0)
                {
                    a = (float*)pa + (long)bh * tq * tk;
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(sc, tq * tk), new ReadOnlySpan<float>((float*)pm + (long)bh * tq * tk, tq * tk), new Span<float>(a, tq * tk));
                }
                SmallGemm.Multiply(GemmForm.NN, tq, dv, tk, a, tk, (float*)pv + s.Offset(b, h, tk, dv), ldv, (float*)py + s.Offset(b, h, tq, dv), ldv, false);
            }
        });
        GC.KeepAlive(q);
        GC.KeepAlive(k);
        GC.KeepAlive(v);
    }

    /// <summary>Writes (or, with the accumulate flags, adds) dq, dk, dv; a null target is skipped.</summary>
    public static void Backward(AttentionDims s, Tensor q, Tensor k, Tensor v, float scale, Tensor probs, Tensor? dropMask, Tensor attn, Tensor g,
        Tensor? dq, bool aq, Tensor? dk, bool ak, Tensor? dvOut, bool av)
    {
        int heads = s.Heads, tq = s.Tq, tk = s.Tk, d = s.D, dv = s.Dv;
        int ldq = s.Stride(d), ldv = s.Stride(dv);
        nint pq = (nint)q.Data, pk = (nint)k.Data, pv = (nint)v.Data, pp = (nint)probs.Data, pa = (nint)attn.Data, pg = (nint)g.Data;
        nint pm = dropMask != null ? (nint)dropMask.Data : 0;
        nint pdq = dq != null ? (nint)dq.Data : 0, pdk = dk != null ? (nint)dk.Data : 0, pdv = dvOut != null ? (nint)dvOut.Data : 0;
        Parallelism.For(s.Batch * heads, (bh0, bh1) =>
        {
            var scratch = GC.AllocateUninitializedArray<float>(tq * tk, pinned: true);
            fixed (float* ds = scratch)
            {
                for (int bh = bh0; bh < bh1; bh++)
                {
                    int b = bh / heads, h = bh % heads;
                    long sOff = (long)bh * tq * tk;
                    float* p = (float*)pp + sOff, a = (float*)pa + sOff;
                    long oq = s.Offset(b, h, tq, d), ok = s.Offset(b, h, tk, d), ovk = s.Offset(b, h, tk, dv), ovq = s.Offset(b, h, tq, dv);
                    float* go = (float*)pg + ovq;
                    // dA = dO·vᵀ ; dV = Aᵀ·dO
                    SmallGemm.Multiply(GemmForm.NT, tq, tk, dv, go, ldv, (float*)pv + ovk, ldv, ds, tk, false);
                    if (pdv != 0) SmallGemm.Multiply(GemmForm.TN, tk, dv, tq, a, tk, go, ldv, (float*)pdv + ovk, ldv, av);
                    if (pdq == 0 && pdk == 0) continue;
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
                    if (pdq != 0) SmallGemm.Multiply(GemmForm.NN, tq, d, tk, ds, tk, (float*)pk + ok, ldq, (float*)pdq + oq, ldq, aq);
                    if (pdk != 0) SmallGemm.Multiply(GemmForm.TN, tk, d, tq, ds, tk, (float*)pq + oq, ldq, (float*)pdk + ok, ldq, ak);
                }
            }
        });
        GC.KeepAlive(q);
        GC.KeepAlive(k);
        GC.KeepAlive(v);
        GC.KeepAlive(g);
    }
}
