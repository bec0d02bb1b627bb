using Finetune.Tensors;
using Finetune.Tensors.Kernels;

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
        var dims = new AttentionDims(bsz, heads, tq, tk, d, dv, merged: false);
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
        var dims = new AttentionDims(bsz, numHeads, tq, tk, c / numHeads, v.Shape[2] / numHeads, merged: true);
        return Attention(q, k, v, dims, [bsz, tq, v.Shape[2]], attentionMask, dropoutP, training, rng, scale);
    }

    /// <summary>
    /// <see cref="MultiHeadAttention"/> on one packed projection qkv [batch, seq, 3·heads·head_dim] whose last
    /// dimension holds q, then k, then v (the output of <see cref="LinearStacked"/> over the query, key and value
    /// weights). The heads are read in place from the three column blocks, and the gradient comes back packed alike.
    /// </summary>
    public static Tensor MultiHeadAttentionPacked(Tensor qkv, int numHeads, IntTensor? attentionMask = null,
        float dropoutP = 0f, bool training = false, Generator? rng = null, float? scale = null)
    {
        RequireRank(qkv, 3, "MultiHeadAttentionPacked");
        int bsz = qkv.Shape[0], t = qkv.Shape[1], c3 = qkv.Shape[2];
        if (numHeads <= 0 || c3 % (3 * numHeads) != 0)
            throw new ArgumentException($"MultiHeadAttentionPacked: last dimension {c3} is not 3 × a multiple of {numHeads} heads.");
        int c = c3 / 3, d = c / numHeads;
        var dims = new AttentionDims(bsz, numHeads, t, t, d, d, Merged: true, LdQK: c3, LdV: c3, LdY: c);
        var op = OpRecorder.Begin("MultiHeadAttentionPacked", qkv);
        var a = op.Scratch(AttentionSetup(dims, attentionMask, dropoutP, training, rng, scale, op.Tracks));
        Tensor y = Tensor.Empty(bsz, t, c);
        unsafe
        {
            float* p = qkv.Data;
            AttentionKernels.Forward(dims, p, p + c, p + 2 * c, a.MaskAdd, a.Scale, a.ProbsData(), a.DropWords(), a.KeepScale, y.Data);
        }
        if (!op.Tracks) return op.Finish(y);
        if (a.Probs == null)
        {
            // Backward keeps qkv, the mask and the dropout bits, so the output (the output projection's saved input)
            // can be formed again, bit for bit, instead of being held from forward to backward.
            op.SaveRecomputable(y, (arr, off) =>
            {
                unsafe
                {
                    fixed (float* py = arr)
                    {
                        float* p = qkv.Data;
                        AttentionKernels.Forward(dims, p, p + c, p + 2 * c, a.MaskAdd, a.Scale, null, a.DropWords(), a.KeepScale, py + off);
                    }
                }
            });
        }
        op.Save(qkv);
        return op.Record(y, g =>
        {
            if (!Autograd.Target(qkv, out var gp, out bool acc)) return;
            unsafe
            {
                float* p = qkv.Data, gq = gp.Data;
                AttentionKernels.Backward(dims, p, p + c, p + 2 * c, a.MaskAdd, a.Scale, a.ProbsData(), a.DropWords(), a.KeepScale, g.Data, gq, acc, gq + c, acc, gq + 2 * c, acc);
            }
        });
    }

    /// <summary>
    /// The additive mask, scale and attention-dropout keep bits of one attention call, and the probabilities when
    /// backward keeps them. When it recomputes them (<see cref="Recomputes"/>) it does not: each (batch, head)
    /// block of probabilities lives only in a per-thread scratch block, in the forward pass and again in backward,
    /// where its scores are formed again from q and k, bit for bit. A layer then holds no seq² tensor from forward
    /// to backward (bert-base, seq 128: 25 MB a layer), for one more q·kᵀ product and softmax per block. Without
    /// gradients, and for the dropped probabilities in any case, no whole tensor is made: each block is formed when a
    /// product needs it.
    /// </summary>
    private sealed record AttentionState(float[]? MaskAdd, float Scale, Tensor? Probs, Tensor? DropBits, float KeepScale) : IDisposable
    {
        /// <summary>The kept probabilities for the kernels, or null.</summary>
        public unsafe float* ProbsData() => Probs != null ? Probs.Data : null;

        /// <summary>The dropout keep bits for the kernels, or null.</summary>
        public unsafe ulong* DropWords() => DropBits != null ? (ulong*)DropBits.Data : null;

        /// <summary>Hands the buffers back (once nothing will read them again).</summary>
        public void Dispose()
        {
            DropBits?.Dispose();
            Probs?.Dispose();
        }
    }

    /// <summary>
    /// Whether backward forms the probabilities (and the packed form's output) again instead of keeping them: with
    /// the run's <see cref="ActivationPolicy.RecomputeCheap"/> policy, and only where that is cheap, for sequences up to a quarter
    /// of the model width. A layer's attention products cost seq/(6·width) of its dense ones, so there the two
    /// recomputations add about 2% to a step (bert-mini seq 64: 140 -> 143 ms, 353 -> 339 MB); at bert-mini
    /// seq 128 they would add 5%.
    /// </summary>
    private static bool Recomputes(AttentionDims dims) => RunContext.Current.Activations == ActivationPolicy.RecomputeCheap && 4L * dims.Tk <= (long)dims.Heads * dims.D;

    /// <param name="keepForBackward">Whether backward will run: the probabilities are then kept unless recomputed.</param>
    private static AttentionState AttentionSetup(AttentionDims dims, IntTensor? attentionMask, float dropoutP, bool training, Generator? rng, float? scale,
        bool keepForBackward)
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
        Tensor? probs = keepForBackward && !Recomputes(dims) ? Tensor.Empty(bsz, dims.Heads, dims.Tq, tk) : null;
        float keepScale = 1f;
        Tensor? dropBits = drop ? DropoutBits(bsz * dims.Heads * dims.Tq * tk, dropoutP, rng ?? RunContext.Current.DropoutGenerator, out keepScale) : null;
        return new AttentionState(maskAdd, sc, probs, dropBits, keepScale);
    }

    private static unsafe Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionDims dims, int[] outShape, IntTensor? attentionMask,
        float dropoutP, bool training, Generator? rng, float? scale)
    {
        var op = OpRecorder.Begin(dims.Merged ? "MultiHeadAttention" : "ScaledDotProductAttention", q, k, v);
        var a = op.Scratch(AttentionSetup(dims, attentionMask, dropoutP, training, rng, scale, op.Tracks));
        Tensor y = Tensor.Empty(outShape);
        AttentionKernels.Forward(dims, q.Data, k.Data, v.Data, a.MaskAdd, a.Scale, a.ProbsData(), a.DropWords(), a.KeepScale, y.Data);
        if (!op.Tracks) return op.Finish(y);
        op.Save(q, k, v);
        return op.Record(y, g =>
        {
            bool aliased = ReferenceEquals(q, k) || ReferenceEquals(q, v) || ReferenceEquals(k, v);
            if (aliased)
            {
                // The same tensor in two roles: compute each gradient apart, then add them in.
                using Tensor dq = Tensor.Empty(q.Shape), dk = Tensor.Empty(k.Shape), dvv = Tensor.Empty(v.Shape);
                AttentionKernels.Backward(dims, q.Data, k.Data, v.Data, a.MaskAdd, a.Scale, a.ProbsData(), a.DropWords(), a.KeepScale, g.Data, dq.Data, false, dk.Data, false, dvv.Data, false);
                Autograd.Send(q, dq.Span);
                Autograd.Send(k, dk.Span);
                Autograd.Send(v, dvv.Span);
            }
            else
            {
                float* gq = null, gk = null, gv = null;
                bool aq = false, ak = false, av = false;
                if (Autograd.Target(q, out var tq, out aq)) gq = tq.Data;
                if (Autograd.Target(k, out var tkk, out ak)) gk = tkk.Data;
                if (Autograd.Target(v, out var tv, out av)) gv = tv.Data;
                AttentionKernels.Backward(dims, q.Data, k.Data, v.Data, a.MaskAdd, a.Scale, a.ProbsData(), a.DropWords(), a.KeepScale, g.Data, gq, aq, gk, ak, gv, av);
            }
        });
    }
}
