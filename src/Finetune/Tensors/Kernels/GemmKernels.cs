using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Finetune.Tensors.Kernels;

/// <summary>
/// Blocked GEMM driver around the register-tiled micro-kernels. B is packed into slivers NR wide (rows of
/// contiguous sources are copied with the K loop outermost, which keeps the reads sequential; transposed sources
/// go through 4x4 transposes). A is read in place when its rows are contiguous (NN, NT) and packed into MR-wide
/// slivers when it is read transposed (TN). Each thread owns a slice of M (or of N when M is small) and computes
/// every element of it with the same FMA chain over K, so results do not depend on the thread count.
/// </summary>
internal static unsafe class GemmKernels
{
    private const int MC = 192, KC = 512, NC = 3072;

    /// <summary>Whether the 12x32 Vector512 kernel is used (else the 6x16 Vector256 one); tests switch it off.</summary>
    internal static bool UseVector512 { get; set; } = Vector512.IsHardwareAccelerated;

    internal static int MR => UseVector512 ? 12 : 6;
    internal static int NR => UseVector512 ? 32 : 16;

    [ThreadStatic] private static float[]? _packB;
    [ThreadStatic] private static float[]? _packA;

    public static void Run(GemmForm form, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        bool accumulate, float* bias, int threads)
    {
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c, pbias = (nint)bias;
        var (parts, splitM) = Partition(form, m, n, k, threads);
        if (parts <= 1)
        {
            Block(form, 0, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate, bias);
            return;
        }
        int total = splitM ? m : n, unit = splitM ? MR : NR;
        int units = (total + unit - 1) / unit;
        Parallelism.Run(parts, p =>
        {
            int s = (int)((long)units * p / parts) * unit, e = Math.Min(total, (int)((long)units * (p + 1) / parts) * unit);
            if (s >= e) return;
            if (splitM) Block(form, s, e, 0, n, k, (float*)pa, lda, (float*)pb, ldb, (float*)pc, ldc, accumulate, (float*)pbias);
            else Block(form, 0, m, s, e, k, (float*)pa, lda, (float*)pb, ldb, (float*)pc, ldc, accumulate, (float*)pbias);
        });
    }

    /// <summary>
    /// How many threads share an m×n×k product, and whether they split M (else N, in units of <see cref="MR"/> rows or
    /// <see cref="NR"/> columns): small products run on one thread, and M is split only when every part gets a few
    /// slivers. Splitting M makes every thread pack all of B, so a transposed B (a Linear's weight) against few rows
    /// (one sentence's tokens) is split by columns: each thread then streams only its own part of the weight.
    /// </summary>
    internal static (int Parts, bool SplitM) Partition(GemmForm form, int m, int n, int k, int threads)
    {
        long flops = 2L * m * n * k;
        int mSlices = m / (4 * MR), nSlices = n / (4 * NR);
        int parts = flops < 1_000_000 ? 1 : Math.Min(threads, Math.Max(mSlices, nSlices));
        bool fewRows = form == GemmForm.NT && nSlices >= parts && m < 2 * MC * parts;
        return (parts, mSlices >= parts && !fewRows);
    }

    /// <summary>Single-threaded product of rows [m0, m1) and columns [n0, n1) of C.</summary>
    public static void Block(GemmForm form, int m0, int m1, int n0, int n1, int k, float* a, int lda, float* b, int ldb,
        float* c, int ldc, bool accumulate, float* bias)
    {
        int width = n1 - n0;
        if (m1 <= m0 || width <= 0) return;
        if (bias == null && k > 0 && k <= KC && width >= 64 && UseVector512
            && (long)k * width <= DirectLimit && m1 - m0 <= 512)
        {
            SmallWide(form, m0, m1, n0, n1, k, a, lda, b, ldb, c, ldc, accumulate);
            return;
        }
        // Without accumulate or bias the first K block stores instead of adding, so C needs no clearing pass.
        bool prefill = bias != null || (k == 0 && !accumulate);
        if (prefill)
            for (int i = m0; i < m1; i++)
            {
                var row = new Span<float>(c + (long)i * ldc + n0, width);
                if (bias == null) row.Clear();
                else if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(row, new ReadOnlySpan<float>(bias + n0, width), row);
                else new ReadOnlySpan<float>(bias + n0, width).CopyTo(row);
            }
        if (k == 0) return;
        bool wide = UseVector512;
        float* bp = Buffer(ref _packB, KC * NC);
        bool packA = form == GemmForm.TN || PackRowMajorA(m1 - m0, width, k);
        float* ap = packA ? Buffer(ref _packA, MC * KC) : null;
        // Few rows (a Linear on a few short sequences): each transposed sliver of B serves only a few row tiles, so it
        // is packed just before they read it, while it is in L1/L2, instead of the whole panel first (megabytes written
        // out to L3 and read back). A read in place is not blocked by rows: all of them go through each sliver.
        bool packPerSliver = form == GemmForm.NT && (m1 - m0 <= MC || (ap == null && m1 - m0 <= SliverRows));
        for (int jc = n0; jc < n1; jc += NC)
        {
            int nc = Math.Min(NC, n1 - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                bool load = pc > 0 || accumulate || prefill;
                float* bdirect = null;
                if (form == GemmForm.NT)
                {
                    if (!packPerSliver) PackBTransposed(wide, b, ldb, pc, kc, jc, nc, bp);
                }
                else if (wide && (long)k * width <= DirectLimit && m1 - m0 <= 512)
                {
                    // Small B: the kernel reads it in place; only a partial last sliver is packed (padded).
                    bdirect = b + (long)pc * ldb + jc;
                    int fullCols = nc / 32 * 32;
                    if (fullCols < nc) PackBRows(wide, b, ldb, pc, kc, jc + fullCols, nc - fullCols, bp + (long)fullCols * kc);
                }
                else PackBRows(wide, b, ldb, pc, kc, jc, nc, bp);
                for (int ic = m0; ic < m1; ic += MC)
                {
                    if (packPerSliver && ap == null)
                    {
                        MacroPackingB(wide, a, lda, null, ic, m1 - ic, pc, kc, b, ldb, jc, nc, bp, c + (long)ic * ldc + jc, ldc, load);
                        break;
                    }
                    int mc = Math.Min(MC, m1 - ic);
                    if (form == GemmForm.TN) PackATransposed(wide, a, lda, pc, kc, ic, mc, ap);
                    else if (ap != null) PackARows(wide, a, lda, pc, kc, ic, mc, ap);
                    if (packPerSliver) MacroPackingB(wide, a, lda, ap, ic, mc, pc, kc, b, ldb, jc, nc, bp, c + (long)ic * ldc + jc, ldc, load);
                    else Macro(wide, a, lda, ap, ic, mc, pc, kc, bp, bdirect, ldb, nc, c + (long)ic * ldc + jc, ldc, load);
                }
            }
        }
    }

    /// <summary>
    /// Whether a row-major A (NN, NT) is packed: packing costs a pass over A and pays off when K spans several
    /// blocks (far-apart rows then strain the TLB) and each packed block is read by many column slivers.
    /// </summary>
    private static bool PackRowMajorA(int m, int n, int k) => n >= 512 && k > KC;

    /// <summary>A stored [m, k] → slivers [m/MR][kc][MR] via 4x4 transposes; the last sliver at its kernel's height.</summary>
    private static void PackARows(bool wide, float* a, int lda, int pc, int kc, int ic, int mc, float* dst)
    {
        int mr = wide ? 12 : 6;
        for (int s = 0; s * mr < mc; s++)
        {
            int rows = Math.Min(mr, mc - s * mr);
            int h = KernelRows(wide, rows);
            float* d = dst + (long)s * kc * mr;
            float* src = a + (long)(ic + s * mr) * lda + pc;
            int r = 0;
            for (; r + 4 <= rows; r += 4) Transpose4Rows(src + (long)r * lda, lda, kc, d + r, h);
            for (; r < rows; r++)
                for (int p = 0; p < kc; p++) d[(long)p * h + r] = src[(long)r * lda + p];
            for (; r < h; r++)
                for (int p = 0; p < kc; p++) d[(long)p * h + r] = 0f;
        }
    }

    /// <summary>
    /// Small products with B read in place, in 6x64 tiles: each k step reads a whole 64-float row segment of B,
    /// a sequential stream the hardware prefetcher follows even when the operands come cold from memory.
    /// Leftover rows and columns go through the general path (same FMA chain per element).
    /// </summary>
    [ThreadStatic] private static float[]? _transposed;

    private static void SmallWide(GemmForm form, int m0, int m1, int n0, int n1, int k, float* a, int lda, float* b, int ldb,
        float* c, int ldc, bool accumulate)
    {
        int nFull = n0 + (n1 - n0) / 64 * 64;
        if (form == GemmForm.NT)
        {
            // Bᵀ: transpose the small B once into a dense [k, width] scratch, then proceed as A·B.
            int width = n1 - n0;
            float* t = Buffer(ref _transposed, DirectLimit);
            int j = 0;
            for (; j + 4 <= width; j += 4) Transpose4Rows(b + (long)(n0 + j) * ldb, ldb, k, t + j, width);
            for (; j < width; j++)
                for (int p = 0; p < k; p++) t[(long)p * width + j] = b[(long)(n0 + j) * ldb + p];
            form = GemmForm.NN;
            b = t - n0;
            ldb = width;
        }
        for (int i = m0; i < m1; i += 6)
        {
            int h = Math.Min(6, m1 - i);
            for (int j = n0; j < nFull; j += 64)
            {
                float* cc = c + (long)i * ldc + j;
                // C is stored only when the tile's K loop ends; fetching its lines first lets those misses
                // overlap the FMAs instead of stalling the stores (64x64x64 heads: ~0.90x -> ~0.97x OpenBLAS).
                if (Sse.IsSupported)
                    for (int r = 0; r < h; r++)
                        for (int q = 0; q < 64; q += 16) Sse.Prefetch0(cc + (long)r * ldc + q);
                // Aᵀ is read in place too: the h values of one k step are adjacent in A's row p.
                if (form == GemmForm.TN) ColsDirect64(h, k, a + i, lda, b + j, ldb, cc, ldc, accumulate);
                else RowsDirect64(h, k, a + (long)i * lda, lda, b + j, ldb, cc, ldc, accumulate);
            }
        }
        if (nFull < n1) Block(form, m0, m1, nFull, n1, k, a, lda, b, ldb, c, ldc, accumulate, null);
    }

    private static void RowsDirect64(int h, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool load)
    {
        switch (h)
        {
            case 6: MicroKernels.RowsDirect6x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 5: MicroKernels.RowsDirect5x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 4: MicroKernels.RowsDirect4x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 3: MicroKernels.RowsDirect3x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 2: MicroKernels.RowsDirect2x64(k, a, lda, b, ldb, c, ldc, load); break;
            default: MicroKernels.RowsDirect1x64(k, a, lda, b, ldb, c, ldc, load); break;
        }
    }

    private static void ColsDirect64(int h, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool load)
    {
        switch (h)
        {
            case 6: MicroKernels.ColsDirect6x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 5: MicroKernels.ColsDirect5x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 4: MicroKernels.ColsDirect4x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 3: MicroKernels.ColsDirect3x64(k, a, lda, b, ldb, c, ldc, load); break;
            case 2: MicroKernels.ColsDirect2x64(k, a, lda, b, ldb, c, ldc, load); break;
            default: MicroKernels.ColsDirect1x64(k, a, lda, b, ldb, c, ldc, load); break;
        }
    }

    /// <summary>Rows the kernel for a sliver of <paramref name="rows"/> rows computes (the rest is padding).</summary>
    private static int KernelRows(bool wide, int rows) => !wide ? 6 : rows > 8 ? 12 : rows > 4 ? 8 : 4;

    private static void Macro(bool wide, float* a, int lda, float* ap, int ic, int mc, int pc, int kc, float* bp, float* bdirect, int ldb, int nc, float* c, int ldc, bool load)
    {
        int mr = wide ? 12 : 6, nr = wide ? 32 : 16;
        float* tile = stackalloc float[12 * 32];
        // A packed B panel that stays in cache lets each A sliver be used for all columns at once (rows outer);
        // a large panel is swept once per column sliver instead (columns outer) so it is read from memory once.
        bool rowsOuter = (long)nc * kc <= SmallPanel;
        int outer = rowsOuter ? (mc + mr - 1) / mr : (nc + nr - 1) / nr;
        int inner = rowsOuter ? (nc + nr - 1) / nr : (mc + mr - 1) / mr;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int ir = (rowsOuter ? o : i) * mr, jr = (rowsOuter ? i : o) * nr;
                Tile(wide, a, lda, ap, ic, mc, pc, kc, bp, bdirect, ldb, nc, c, ldc, load, ir, jr, tile);
            }
    }

    /// <summary>
    /// <see cref="Macro"/> for a transposed B not yet packed: columns outer, each NR-wide sliver packed into
    /// <paramref name="sliver"/> and then read by every row tile of the block (the same packed data and kernels).
    /// With the 12x32 kernels, full tiles also prefetch the next sliver's source rows: with few rows the product
    /// spends as long streaming B from memory as multiplying, and this way the two overlap.
    /// </summary>
    private static void MacroPackingB(bool wide, float* a, int lda, float* ap, int ic, int mc, int pc, int kc, float* b, int ldb, int jc, int nc,
        float* sliver, float* c, int ldc, bool load)
    {
        int mr = wide ? 12 : 6, nr = wide ? 32 : 16;
        float* tile = stackalloc float[12 * 32];
        bool prefetch = wide && Sse.IsSupported;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int nw = Math.Min(nr, nc - jr);
            PackBTransposed(wide, b, ldb, pc, kc, jc + jr, nw, sliver);
            // Tile finds sliver jr / nr at bp + (jr / nr)·kc·nr: shift the base so that it lands on this one.
            float* bp = sliver - (long)(jr / nr) * kc * nr;
            int nextRows = prefetch ? Math.Clamp(nc - jr - nr, 0, nr) : 0;
            float* next = b + (long)(jc + jr + nr) * ldb + pc;
            int line = 0, lines = nextRows * ((kc + 15) / 16);
            for (int ir = 0; ir < mc; ir += mr)
            {
                int mh = Math.Min(mr, mc - ir), h = KernelRows(wide, mh);
                if (line >= lines || mh != h || nw != nr)
                {
                    Tile(wide, a, lda, ap, ic, mc, pc, kc, bp, null, ldb, nc, c, ldc, load, ir, jr, tile);
                    continue;
                }
                // The kernel issues h/4 prefetches every 4 k steps, in the order the packing will read the lines.
                int take = Math.Min(h / 4 * (kc / 4), lines - line);
                float* pf = next + (long)(line / nextRows) * 16;
                int row0 = line % nextRows;
                float* cc = c + (long)ir * ldc + jr;
                if (ap != null)
                {
                    float* asl = ap + (long)(ir / mr) * kc * mr;
                    if (h == 12) MicroKernels.PackedPrefetch12x32(kc, asl, sliver, cc, ldc, load, pf, ldb, nextRows, row0, take);
                    else if (h == 8) MicroKernels.PackedPrefetch8x32(kc, asl, sliver, cc, ldc, load, pf, ldb, nextRows, row0, take);
                    else MicroKernels.PackedPrefetch4x32(kc, asl, sliver, cc, ldc, load, pf, ldb, nextRows, row0, take);
                }
                else
                {
                    float* arow = a + (long)(ic + ir) * lda + pc;
                    if (h == 12) MicroKernels.RowsPrefetch12x32(kc, arow, lda, sliver, cc, ldc, load, pf, ldb, nextRows, row0, take);
                    else if (h == 8) MicroKernels.RowsPrefetch8x32(kc, arow, lda, sliver, cc, ldc, load, pf, ldb, nextRows, row0, take);
                    else MicroKernels.RowsPrefetch4x32(kc, arow, lda, sliver, cc, ldc, load, pf, ldb, nextRows, row0, take);
                }
                line += take;
            }
        }
    }

    /// <summary>Products of up to this many rows, with A read in place, pack transposed B one sliver at a time.</summary>
    private const int SliverRows = 256;

    /// <summary>B matrices (k·n floats) up to this size are read in place by the small-GEMM path, never packed.</summary>
    private const int DirectLimit = 64 * 1024;

    /// <summary>Packed B panels up to this many floats are treated as cache-resident.</summary>
    private const int SmallPanel = 32 * 1024;

    private static void Tile(bool wide, float* a, int lda, float* ap, int ic, int mc, int pc, int kc, float* bp, float* bdirect, int ldb,
        int nc, float* c, int ldc, bool load, int ir, int jr, float* tile)
    {
        int mr = wide ? 12 : 6, nr = wide ? 32 : 16;
        int nw = Math.Min(nr, nc - jr);
        float* bs = bp + (long)(jr / nr) * kc * nr;
        int mh = Math.Min(mr, mc - ir);
        int h = KernelRows(wide, mh);
        float* cc = c + (long)ir * ldc + jr;
        bool full = mh == h && nw == nr;
        float* dst = full ? cc : tile;
        nint ld = full ? ldc : nr;
        if (!full)
        {
            // Edge tile: run the same kernel on a padded copy so every element sees the same arithmetic.
            new Span<float>(tile, h * nr).Clear();
            if (load)
                for (int r = 0; r < mh; r++) new ReadOnlySpan<float>(cc + (long)r * ldc, nw).CopyTo(new Span<float>(tile + r * nr, nw));
        }
        bool direct = bdirect != null && nw == nr;
        if (direct && ap != null)
        {
            float* asl = ap + (long)(ir / mr) * kc * mr;
            if (h == 12) MicroKernels.PackedDirect12x32(kc, asl, bdirect + jr, ldb, dst, ld, load);
            else if (h == 8) MicroKernels.PackedDirect8x32(kc, asl, bdirect + jr, ldb, dst, ld, load);
            else MicroKernels.PackedDirect4x32(kc, asl, bdirect + jr, ldb, dst, ld, load);
        }
        else if (ap != null)
        {
            float* asl = ap + (long)(ir / mr) * kc * mr;
            if (!wide) MicroKernels.Packed6x16(kc, asl, bs, dst, ld, load);
            else if (h == 12) MicroKernels.Packed12x32(kc, asl, bs, dst, ld, load);
            else if (h == 8) MicroKernels.Packed8x32(kc, asl, bs, dst, ld, load);
            else MicroKernels.Packed4x32(kc, asl, bs, dst, ld, load);
        }
        else
        {
            // A partial row sliver reads a zero-padded copy so the kernel never reads past A.
            float* arow = a + (long)(ic + ir) * lda + pc;
            nint stride = lda;
            if (mh < h)
            {
                arow = EdgeRows(h, a, lda, ic + ir, mh, pc, kc);
                stride = kc;
            }
            if (direct)
            {
                if (h == 12) MicroKernels.RowsDirect12x32(kc, arow, stride, bdirect + jr, ldb, dst, ld, load);
                else if (h == 8) MicroKernels.RowsDirect8x32(kc, arow, stride, bdirect + jr, ldb, dst, ld, load);
                else MicroKernels.RowsDirect4x32(kc, arow, stride, bdirect + jr, ldb, dst, ld, load);
            }
            else if (!wide) MicroKernels.Rows6x16(kc, arow, stride, bs, dst, ld, load);
            else if (h == 12) MicroKernels.Rows12x32(kc, arow, stride, bs, dst, ld, load);
            else if (h == 8) MicroKernels.Rows8x32(kc, arow, stride, bs, dst, ld, load);
            else MicroKernels.Rows4x32(kc, arow, stride, bs, dst, ld, load);
        }
        if (!full)
            for (int r = 0; r < mh; r++) new ReadOnlySpan<float>(tile + r * nr, nw).CopyTo(new Span<float>(cc + (long)r * ldc, nw));
    }

    [ThreadStatic] private static float[]? _edge;

    /// <summary>Copies the last mh (&lt; MR) rows of A into an MR-row scratch with zero rows after them.</summary>
    private static float* EdgeRows(int mr, float* a, int lda, int row0, int mh, int pc, int kc)
    {
        float* e = Buffer(ref _edge, 12 * KC);
        new Span<float>(e, mr * kc).Clear();
        for (int r = 0; r < mh; r++) new ReadOnlySpan<float>(a + (long)(row0 + r) * lda + pc, kc).CopyTo(new Span<float>(e + r * kc, kc));
        return e;
    }

    /// <summary>B[k, n] row-major → slivers [n/NR][kc][NR], K loop outermost so each source row is read once, in order.</summary>
    private static void PackBRows(bool wide, float* b, int ldb, int pc, int kc, int jc, int nc, float* dst)
    {
        int nr = wide ? 32 : 16;
        int full = nc / nr, rem = nc - full * nr;
        for (int p = 0; p < kc; p++)
        {
            float* src = b + (long)(pc + p) * ldb + jc;
            float* d = dst + (long)p * nr;
            for (int s = 0; s < full; s++)
            {
                float* ss = src + s * nr;
                float* dd = d + (long)s * kc * nr;
                if (wide)
                {
                    Vector512.Store(Vector512.Load(ss), dd);
                    Vector512.Store(Vector512.Load(ss + 16), dd + 16);
                }
                else
                {
                    Vector256.Store(Vector256.Load(ss), dd);
                    Vector256.Store(Vector256.Load(ss + 8), dd + 8);
                }
            }
            if (rem > 0)
            {
                float* dd = d + (long)full * kc * nr;
                for (int j = 0; j < rem; j++) dd[j] = src[full * nr + j];
                for (int j = rem; j < nr; j++) dd[j] = 0f;
            }
        }
    }

    /// <summary>B stored [n, k] (read as Bᵀ) → slivers [n/NR][kc][NR] via 4x4 transposes.</summary>
    private static void PackBTransposed(bool wide, float* b, int ldb, int pc, int kc, int jc, int nc, float* dst)
    {
        int nr = wide ? 32 : 16;
        for (int s = 0; s * nr < nc; s++)
        {
            float* d = dst + (long)s * kc * nr;
            int cols = Math.Min(nr, nc - s * nr);
            if (cols == nr && Avx.IsSupported)
            {
                TransposeSliver(b + (long)(jc + s * nr) * ldb + pc, ldb, kc, d, nr);
                continue;
            }
            int j = 0;
            for (; j + 4 <= cols; j += 4)
            {
                float* r0 = b + (long)(jc + s * nr + j) * ldb + pc;
                Transpose4Rows(r0, ldb, kc, d + j, nr);
            }
            for (; j < cols; j++)
            {
                float* r = b + (long)(jc + s * nr + j) * ldb + pc;
                for (int p = 0; p < kc; p++) d[(long)p * nr + j] = r[p];
            }
            for (; j < nr; j++)
                for (int p = 0; p < kc; p++) d[(long)p * nr + j] = 0f;
        }
    }

    /// <summary>
    /// nr (a multiple of 8) source rows of kc floats (stride ld) → kc destination rows of nr floats, by 8x8 transposes
    /// with k outermost: each 8 × nr block of the destination is written whole while in L1, and the source rows
    /// advance together a cache line at a time.
    /// </summary>
    private static void TransposeSliver(float* src, int ld, int kc, float* dst, int nr)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            float* d = dst + (long)p * nr;
            for (int j = 0; j < nr; j += 8)
            {
                float* s0 = src + (long)j * ld + p;
                var r0 = Avx.LoadVector256(s0);
                var r1 = Avx.LoadVector256(s0 + ld);
                var r2 = Avx.LoadVector256(s0 + 2L * ld);
                var r3 = Avx.LoadVector256(s0 + 3L * ld);
                var r4 = Avx.LoadVector256(s0 + 4L * ld);
                var r5 = Avx.LoadVector256(s0 + 5L * ld);
                var r6 = Avx.LoadVector256(s0 + 6L * ld);
                var r7 = Avx.LoadVector256(s0 + 7L * ld);
                var t0 = Avx.UnpackLow(r0, r1);
                var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3);
                var t3 = Avx.UnpackHigh(r2, r3);
                var t4 = Avx.UnpackLow(r4, r5);
                var t5 = Avx.UnpackHigh(r4, r5);
                var t6 = Avx.UnpackLow(r6, r7);
                var t7 = Avx.UnpackHigh(r6, r7);
                // Per 128-bit lane, u_q holds column q (low lane) and q + 4 (high lane) of rows 0-3 (u0-u3) or 4-7 (u4-u7).
                var u0 = Avx.Shuffle(t0, t2, 0x44);
                var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44);
                var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44);
                var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44);
                var u7 = Avx.Shuffle(t5, t7, 0xEE);
                Avx.Store(d + j, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(d + nr + j, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(d + 2L * nr + j, Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(d + 3L * nr + j, Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(d + 4L * nr + j, Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(d + 5L * nr + j, Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(d + 6L * nr + j, Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(d + 7L * nr + j, Avx.Permute2x128(u3, u7, 0x31));
            }
        }
        for (; p < kc; p++)
            for (int j = 0; j < nr; j++) dst[(long)p * nr + j] = src[(long)j * ld + p];
    }

    /// <summary>
    /// A stored [k, m] (read as Aᵀ) → slivers [m/MR][kc][MR]: MR contiguous floats per k step. The last sliver
    /// is packed at the height of the kernel that will read it (zero rows pad it up to that height).
    /// </summary>
    private static void PackATransposed(bool wide, float* a, int lda, int pc, int kc, int ic, int mc, float* dst)
    {
        int mr = wide ? 12 : 6;
        for (int s = 0; s * mr < mc; s++)
        {
            int rows = Math.Min(mr, mc - s * mr);
            int h = KernelRows(wide, rows);
            float* d = dst + (long)s * kc * mr;
            float* src = a + (long)pc * lda + ic + s * mr;
            if (rows == h)
                CopyRows(src, lda, d, h, kc);
            else
                for (int p = 0; p < kc; p++)
                {
                    int r = 0;
                    for (; r < rows; r++) d[p * h + r] = src[(long)p * lda + r];
                    for (; r < h; r++) d[p * h + r] = 0f;
                }
        }
    }

    /// <summary>kc rows of h (4, 6, 8 or 12) floats at stride ld → contiguous; explicit vectors beat memmove at this size.</summary>
    private static void CopyRows(float* src, int ld, float* dst, int h, int kc)
    {
        switch (h)
        {
            case 12:
                for (int p = 0; p < kc; p++, src += ld, dst += 12)
                {
                    Vector256.Store(Vector256.Load(src), dst);
                    Vector128.Store(Vector128.Load(src + 8), dst + 8);
                }
                break;
            case 8:
                for (int p = 0; p < kc; p++, src += ld, dst += 8) Vector256.Store(Vector256.Load(src), dst);
                break;
            case 4:
                for (int p = 0; p < kc; p++, src += ld, dst += 4) Vector128.Store(Vector128.Load(src), dst);
                break;
            default:
                for (int p = 0; p < kc; p++, src += ld, dst += h)
                    for (int r = 0; r < h; r++) dst[r] = src[r];
                break;
        }
    }

    /// <summary>Four source rows (stride ld) of length kc → kc destination rows of 4 floats (stride dstStride).</summary>
    private static void Transpose4Rows(float* src, int ld, int kc, float* dst, int dstStride)
    {
        float* s0 = src, s1 = src + ld, s2 = src + 2L * ld, s3 = src + 3L * ld;
        int p = 0;
        for (; p + 4 <= kc; p += 4)
        {
            var r0 = Vector128.Load(s0 + p);
            var r1 = Vector128.Load(s1 + p);
            var r2 = Vector128.Load(s2 + p);
            var r3 = Vector128.Load(s3 + p);
            // 4x4 transpose: interleave pairs, then 64-bit halves.
            var lo01 = UnpackLo(r0, r1);
            var hi01 = UnpackHi(r0, r1);
            var lo23 = UnpackLo(r2, r3);
            var hi23 = UnpackHi(r2, r3);
            Vector128.Store(MoveLowHalves(lo01, lo23), dst + (long)p * dstStride);
            Vector128.Store(MoveHighHalves(lo01, lo23), dst + (long)(p + 1) * dstStride);
            Vector128.Store(MoveLowHalves(hi01, hi23), dst + (long)(p + 2) * dstStride);
            Vector128.Store(MoveHighHalves(hi01, hi23), dst + (long)(p + 3) * dstStride);
        }
        for (; p < kc; p++)
        {
            float* d = dst + (long)p * dstStride;
            d[0] = s0[p];
            d[1] = s1[p];
            d[2] = s2[p];
            d[3] = s3[p];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> UnpackLo(Vector128<float> a, Vector128<float> b) =>
        System.Runtime.Intrinsics.X86.Sse.IsSupported ? System.Runtime.Intrinsics.X86.Sse.UnpackLow(a, b)
        : Vector128.Create(a[0], b[0], a[1], b[1]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> UnpackHi(Vector128<float> a, Vector128<float> b) =>
        System.Runtime.Intrinsics.X86.Sse.IsSupported ? System.Runtime.Intrinsics.X86.Sse.UnpackHigh(a, b)
        : Vector128.Create(a[2], b[2], a[3], b[3]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> MoveLowHalves(Vector128<float> a, Vector128<float> b) =>
        System.Runtime.Intrinsics.X86.Sse.IsSupported ? System.Runtime.Intrinsics.X86.Sse.MoveLowToHigh(a, b)
        : Vector128.Create(a[0], a[1], b[0], b[1]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> MoveHighHalves(Vector128<float> a, Vector128<float> b) =>
        System.Runtime.Intrinsics.X86.Sse.IsSupported ? System.Runtime.Intrinsics.X86.Sse.MoveHighToLow(b, a)
        : Vector128.Create(a[2], a[3], b[2], b[3]);

    private static float* Buffer(ref float[]? buf, int length)
    {
        if (buf == null || buf.Length < length + 16) buf = GC.AllocateUninitializedArray<float>(length + 16, pinned: true);
        float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buf));
        return (float*)(((nint)p + 63) & ~(nint)63);
    }
}
