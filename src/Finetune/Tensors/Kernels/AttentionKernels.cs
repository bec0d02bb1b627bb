using System.Numerics;
using System.Runtime.CompilerServices;

namespace Finetune.Tensors.Kernels;

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
    /// <remarks>
    /// The probabilities go to <paramref name="probs"/> [batch, heads, tq, tk] when not null, else to a per-thread
    /// block; <paramref name="dropBits"/>, when not null, is the keep-bit mask of attention dropout over them.
    /// </remarks>
    public static void Forward(AttentionDims s, float* q, float* k, float* v, float[]? maskAdd, float scale, float* probs, ulong* dropBits, float keepScale, float* y)
    {
        int heads = s.Heads, tq = s.Tq, tk = s.Tk, dv = s.Dv;
        int ldv = s.LdV, ldy = s.LdY;
        nint pq = (nint)q, pk = (nint)k, pv = (nint)v, pp = (nint)probs, pbits = (nint)dropBits, py = (nint)y;
        Parallelism.For(s.Batch * heads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (bh0, bh1) =>
        {
            // The (dropped) probabilities of one block live only until its product with v.
            var block = pp == 0 ? Scratch(ref _probs, tq * tk) : null;
            var dropped = pbits != 0 ? Scratch(ref _dropped, tq * tk) : null;
            fixed (float* pb = block, pd = dropped, madd = maskAdd)
                for (int bh = bh0; bh < bh1; bh++)
                {
                    int b = bh / heads, h = bh % heads;
                    long sOff = (long)bh * tq * tk;
                    float* sc = pp != 0 ? (float*)pp + sOff : pb;
                    Probabilities(s, b, h, (float*)pq, (float*)pk, madd, scale, sc);
                    float* a = sc;
                    if (pbits != 0)
                    {
                        KeepBits.Apply((ulong*)pbits, keepScale, sOff, tq * tk, sc, pd);
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
    public static void Backward(AttentionDims s, float* q, float* k, float* v, float[]? maskAdd, float scale, float* probs, ulong* dropBits, float keepScale,
        float* g, float* dq, bool aq, float* dk, bool ak, float* dvOut, bool av)
    {
        int heads = s.Heads, tq = s.Tq, tk = s.Tk, d = s.D, dv = s.Dv;
        int ldq = s.LdQK, ldv = s.LdV, ldy = s.LdY;
        nint pq = (nint)q, pk = (nint)k, pv = (nint)v, pp = (nint)probs, pbits = (nint)dropBits, pg = (nint)g;
        nint pdq = (nint)dq, pdk = (nint)dk, pdv = (nint)dvOut;
        Parallelism.For(s.Batch * heads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (bh0, bh1) =>
        {
            var scratch = Scratch(ref _gradient, tq * tk);
            var block = pp == 0 ? Scratch(ref _probs, tq * tk) : null;
            var droppedScratch = pbits != 0 ? Scratch(ref _dropped, tq * tk) : null;
            fixed (float* ds = scratch, pb = block, pd = droppedScratch, madd = maskAdd)
            {
                for (int bh = bh0; bh < bh1; bh++)
                {
                    int b = bh / heads, h = bh % heads;
                    long sOff = (long)bh * tq * tk;
                    float* p = pp != 0 ? (float*)pp + sOff : pb, a = p;
                    if (pp == 0) Probabilities(s, b, h, (float*)pq, (float*)pk, madd, scale, p);
                    if (pbits != 0 && pdv != 0)
                    {
                        // The forward's dropped probabilities, formed again exactly as it formed them.
                        KeepBits.Apply((ulong*)pbits, keepScale, sOff, tq * tk, p, pd);
                        a = pd;
                    }
                    long oq = s.Offset(b, h, tq, d, ldq), ok = s.Offset(b, h, tk, d, ldq), ovk = s.Offset(b, h, tk, dv, ldv);
                    float* go = (float*)pg + s.Offset(b, h, tq, dv, ldy);
                    // dA = dO·vᵀ ; dV = Aᵀ·dO
                    SmallGemm.Multiply(GemmForm.NT, tq, tk, dv, go, ldy, (float*)pv + ovk, ldv, ds, tk, false);
                    if (pdv != 0) SmallGemm.Multiply(GemmForm.TN, tk, dv, tq, a, tk, go, ldy, (float*)pdv + ovk, ldv, av);
                    if (pdq == 0 && pdk == 0) continue;
                    // dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale, dP first masked like the forward's dropout
                    if (pbits != 0) KeepBits.Apply((ulong*)pbits, keepScale, sOff, tq * tk, ds, ds); // dP = dA ⊙ keep
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

