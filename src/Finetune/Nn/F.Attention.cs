using System.Runtime.CompilerServices;
using System.Numerics;
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
            AttentionKernels.Forward(dims, p, p + c, p + 2 * c, a.MaskAdd, a.Scale, a.Probs, a.DropBits, a.KeepScale, y.Data);
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
                        AttentionKernels.Forward(dims, p, p + c, p + 2 * c, a.MaskAdd, a.Scale, null, a.DropBits, a.KeepScale, py + off);
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
                AttentionKernels.Backward(dims, p, p + c, p + 2 * c, a.MaskAdd, a.Scale, a.Probs, a.DropBits, a.KeepScale, g.Data, gq, acc, gq + c, acc, gq + 2 * c, acc);
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
        AttentionKernels.Forward(dims, q.Data, k.Data, v.Data, a.MaskAdd, a.Scale, a.Probs, a.DropBits, a.KeepScale, y.Data);
        if (!op.Tracks) return op.Finish(y);
        op.Save(q, k, v);
        return op.Record(y, g =>
        {
            bool aliased = ReferenceEquals(q, k) || ReferenceEquals(q, v) || ReferenceEquals(k, v);
            if (aliased)
            {
                // The same tensor in two roles: compute each gradient apart, then add them in.
                using Tensor dq = Tensor.Empty(q.Shape), dk = Tensor.Empty(k.Shape), dvv = Tensor.Empty(v.Shape);
                AttentionKernels.Backward(dims, q.Data, k.Data, v.Data, a.MaskAdd, a.Scale, a.Probs, a.DropBits, a.KeepScale, g.Data, dq.Data, false, dk.Data, false, dvv.Data, false);
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
                AttentionKernels.Backward(dims, q.Data, k.Data, v.Data, a.MaskAdd, a.Scale, a.Probs, a.DropBits, a.KeepScale, g.Data, gq, aq, gk, ak, gv, av);
            }
        });
    }
}

/// <summary>
/// Sizes of an attention call and where each (batch, head) block of q/k/v/output lives. Merged layouts keep
/// heads side by side in rows of <see cref="LdQK"/> (q, k), <see cref="LdV"/> (v) and <see cref="LdY"/> (output)
/// floats: Heads·D for separate projections, wider when q, k and v are column blocks of one packed tensor.
/// </summary>
internal readonly record struct AttentionDims(int Batch, int Heads, int Tq, int Tk, int D, int Dv, bool Merged, int LdQK, int LdV, int LdY)
{
    public AttentionDims(int batch, int heads, int tq, int tk, int d, int dv, bool merged)
        : this(batch, heads, tq, tk, d, dv, merged, merged ? heads * d : d, merged ? heads * dv : dv, merged ? heads * dv : dv)
    {
    }

    /// <summary>Start of the (b, h) block of a tensor with the given sequence length, head size and row stride.</summary>
    public long Offset(int b, int h, int seq, int dim, int ld) => Merged ? (long)b * seq * ld + (long)h * dim : ((long)b * Heads + h) * seq * dim;
}

/// <summary>Per (batch, head) attention blocks, parallel over batch×heads, each with the single-threaded small-GEMM path.</summary>
internal static unsafe class AttentionKernels
{
    // One (batch, head) block of scratch per thread, kept for the thread's life: pinned arrays allocated per call
    // would pile up on the pinned heap (about 1.5 MB a bert-mini step) until a full collection.
    [ThreadStatic] private static float[]? _probs;
    [ThreadStatic] private static float[]? _dropped;
    [ThreadStatic] private static float[]? _gradient;

    private static float[] Scratch(ref float[]? buffer, int length)
    {
        if (buffer == null || buffer.Length < length) buffer = GC.AllocateUninitializedArray<float>(length, pinned: true);
        return buffer;
    }

    /// <summary>q, k, v and y point at the first element of their (0, 0) blocks; rows are strided as <paramref name="s"/> says.</summary>
    /// <remarks>The probabilities go to <paramref name="probs"/> when given, else to a per-thread block.</remarks>
    public static void Forward(AttentionDims s, float* q, float* k, float* v, float[]? maskAdd, float scale, Tensor? probs, Tensor? dropBits, float keepScale, float* y)
    {
        int heads = s.Heads, tq = s.Tq, tk = s.Tk, dv = s.Dv;
        int ldv = s.LdV, ldy = s.LdY;
        nint pq = (nint)q, pk = (nint)k, pv = (nint)v, pp = probs != null ? (nint)probs.Data : 0, py = (nint)y;
        Parallelism.For(s.Batch * heads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (bh0, bh1) =>
        {
            // The (dropped) probabilities of one block live only until its product with v.
            var block = pp == 0 ? Scratch(ref _probs, tq * tk) : null;
            var dropped = dropBits != null ? Scratch(ref _dropped, tq * tk) : null;
            fixed (float* pb = block, pd = dropped, madd = maskAdd)
                for (int bh = bh0; bh < bh1; bh++)
                {
                    int b = bh / heads, h = bh % heads;
                    long sOff = (long)bh * tq * tk;
                    float* sc = pp != 0 ? (float*)pp + sOff : pb;
                    Probabilities(s, b, h, (float*)pq, (float*)pk, madd, scale, sc);
                    float* a = sc;
                    if (dropBits != null)
                    {
                        F.ApplyKeepBits(dropBits, keepScale, sOff, tq * tk, sc, pd);
                        a = pd;
                    }
                    SmallGemm.Multiply(GemmForm.NN, tq, dv, tk, a, tk, (float*)pv + s.Offset(b, h, tk, dv, ldv), ldv, (float*)py + s.Offset(b, h, tq, dv, ldy), ldy, false);
                }
        });
    }

    /// <summary>One (b, h) block of probabilities into <paramref name="p"/> [tq, tk]: softmax(q·kᵀ·scale + mask), row by row.</summary>
    private static void Probabilities(AttentionDims s, int b, int h, float* q, float* k, float* maskAdd, float scale, float* p)
    {
        int tq = s.Tq, tk = s.Tk, d = s.D, ld = s.LdQK;
        SmallGemm.Multiply(GemmForm.NT, tq, tk, d, q + s.Offset(b, h, tq, d, ld), ld, k + s.Offset(b, h, tk, d, ld), ld, p, tk, false);
        float* madd = maskAdd != null ? maskAdd + (long)b * tk : null;
        for (int i = 0; i < tq; i++)
            SoftmaxRow(p + (long)i * tk, tk, scale, madd);
    }

    /// <summary>Writes (or, with the accumulate flags, adds) dq, dk, dv; a null target is skipped.</summary>
    /// <remarks>
    /// Gradients are laid out like their inputs (dq like q, ...), g like the output. Without the forward's
    /// <paramref name="probs"/>, each block's probabilities are formed again as the forward formed them.
    /// </remarks>
    public static void Backward(AttentionDims s, float* q, float* k, float* v, float[]? maskAdd, float scale, Tensor? probs, Tensor? dropBits, float keepScale,
        float* g, float* dq, bool aq, float* dk, bool ak, float* dvOut, bool av)
    {
        int heads = s.Heads, tq = s.Tq, tk = s.Tk, d = s.D, dv = s.Dv;
        int ldq = s.LdQK, ldv = s.LdV, ldy = s.LdY;
        nint pq = (nint)q, pk = (nint)k, pv = (nint)v, pp = probs != null ? (nint)probs.Data : 0, pg = (nint)g;
        nint pdq = (nint)dq, pdk = (nint)dk, pdv = (nint)dvOut;
        Parallelism.For(s.Batch * heads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (bh0, bh1) =>
        {
            var scratch = Scratch(ref _gradient, tq * tk);
            var block = pp == 0 ? Scratch(ref _probs, tq * tk) : null;
            var droppedScratch = dropBits != null ? Scratch(ref _dropped, tq * tk) : null;
            fixed (float* ds = scratch, pb = block, pd = droppedScratch, madd = maskAdd)
            {
                for (int bh = bh0; bh < bh1; bh++)
                {
                    int b = bh / heads, h = bh % heads;
                    long sOff = (long)bh * tq * tk;
                    float* p = pp != 0 ? (float*)pp + sOff : pb, a = p;
                    if (pp == 0) Probabilities(s, b, h, (float*)pq, (float*)pk, madd, scale, p);
                    if (dropBits != null && pdv != 0)
                    {
                        // The forward's dropped probabilities, formed again exactly as it formed them.
                        F.ApplyKeepBits(dropBits, keepScale, sOff, tq * tk, p, pd);
                        a = pd;
                    }
                    long oq = s.Offset(b, h, tq, d, ldq), ok = s.Offset(b, h, tk, d, ldq), ovk = s.Offset(b, h, tk, dv, ldv);
                    float* go = (float*)pg + s.Offset(b, h, tq, dv, ldy);
                    // dA = dO·vᵀ ; dV = Aᵀ·dO
                    SmallGemm.Multiply(GemmForm.NT, tq, tk, dv, go, ldy, (float*)pv + ovk, ldv, ds, tk, false);
                    if (pdv != 0) SmallGemm.Multiply(GemmForm.TN, tk, dv, tq, a, tk, go, ldy, (float*)pdv + ovk, ldv, av);
                    if (pdq == 0 && pdk == 0) continue;
                    // dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale, dP first masked like the forward's dropout
                    if (dropBits != null) F.ApplyKeepBits(dropBits, keepScale, sOff, tq * tk, ds, ds); // dP = dA ⊙ keep
                    for (int i = 0; i < tq; i++)
                        SoftmaxBackwardRow(p + (long)i * tk, ds + (long)i * tk, tk, scale);
                    // dQ = dS·K ; dK = dSᵀ·Q
                    if (pdq != 0) SmallGemm.Multiply(GemmForm.NN, tq, d, tk, ds, tk, (float*)pk + ok, ldq, (float*)pdq + oq, ldq, aq);
                    if (pdk != 0) SmallGemm.Multiply(GemmForm.TN, tk, d, tq, ds, tk, (float*)pq + oq, ldq, (float*)pdk + ok, ldq, ak);
                }
            }
        });
    }
    /// <summary>One score row in three sweeps: s = s·scale + mask (and its max), p = exp(s − max) and Σ, p /= Σ.</summary>
    private static void SoftmaxRow(float* row, int n, float scale, float* maskAdd)
    {
        int w = Vector<float>.Count, j = 0;
        var vs = new Vector<float>(scale);
        var vmax = new Vector<float>(float.NegativeInfinity);
        float max = float.NegativeInfinity;
        // fma with a zero addend rounds like the plain product, so both forms give the same scores
        for (; j + w <= n; j += w)
        {
            var v = maskAdd != null ? Vector.FusedMultiplyAdd(Vector.Load(row + j), vs, Vector.Load(maskAdd + j)) : Vector.Load(row + j) * vs;
            v.Store(row + j);
            vmax = Vector.Max(vmax, v);
        }
        for (int l = 0; l < w; l++) max = MathF.Max(max, vmax[l]);
        for (; j < n; j++)
        {
            row[j] = maskAdd != null ? MathF.FusedMultiplyAdd(row[j], scale, maskAdd[j]) : row[j] * scale;
            max = MathF.Max(max, row[j]);
        }
        var span = new Span<float>(row, n);
        var vsum = new Vector<float>(FastMath.ExpShiftedSum(span, max, span));
        float sum = vsum[0];
        for (j = 0; j + w <= n; j += w) (Vector.Load(row + j) / vsum).Store(row + j);
        for (; j < n; j++) row[j] /= sum;
    }

    /// <summary>
    /// One row of the softmax backward in two sweeps, in place over <paramref name="ds"/> (which holds dP, the
    /// gradient of the probabilities after any dropout has been undone): dS = p·(dP − Σ dP·p)·scale.
    /// </summary>
    private static void SoftmaxBackwardRow(float* p, float* ds, int n, float scale)
    {
        int w = Vector<float>.Count, j = 0;
        var vdot = Vector<float>.Zero;
        for (; j + w <= n; j += w) vdot = Vector.FusedMultiplyAdd(Vector.Load(ds + j), Vector.Load(p + j), vdot);
        float dot = Vector.Sum(vdot);
        for (; j < n; j++) dot = MathF.FusedMultiplyAdd(ds[j], p[j], dot);
        var vd = new Vector<float>(dot);
        var vs = new Vector<float>(scale);
        for (j = 0; j + w <= n; j += w) ((Vector.Load(ds + j) - vd) * Vector.Load(p + j) * vs).Store(ds + j);
        for (; j < n; j++) ds[j] = (ds[j] - dot) * p[j] * scale;
    }
}

