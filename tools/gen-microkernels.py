# Development tool (not needed to build): regenerates src/Finetune/Tensors/Kernels/MicroKernels.g.cs.
# Usage: python3 tools/gen-microkernels.py
# Generates the register-tiled GEMM micro-kernels (C# source) so the 24/12 accumulators stay in registers.
import os
PREFETCH = int(os.environ.get('PREFETCH', '0'))  # measured no gain; x86-only when on

def kernel(name, V, MR, NV, W, packed, directB=False, colsA=False, pfPer=0):
    NR = NV * W
    L = []
    w = L.append
    args = "int kc, float* a, nint lda, float* b, float* c, nint ldc, bool load" if not packed else "int kc, float* a, float* b, float* c, nint ldc, bool load"
    if directB:
        args = args.replace("float* b,", "float* b, nint ldb,")
    if colsA:
        args = args.replace("float* a,", "float* a, nint lda,")
    if pfPer:
        args += ", float* pf, nint pfld, int pfRows, int pfRow0, int pfLeft"
    bdesc = "B read in place with row stride ldb" if directB else f"B packed [k][{NR}]"
    adesc = "read as Aᵀ in place (row p of the stored A at a + p·lda)" if colsA else ('packed [k][' + str(MR) + ']' if packed else 'row-major with row stride lda')
    w(f"    /// <summary>C[{MR}x{NR}] (+)= A·B over kc steps; A {adesc}, {bdesc}.</summary>")
    if pfPer:
        w(f"    /// <remarks>")
        w(f"    /// Also prefetches (to L2) up to pfLeft cache lines of a source the caller packs next, {pfPer} every 4 k steps, in the")
        w(f"    /// order the packing reads them: lines at pf + i·16 of rows pfRow0.. (stride pfld) of pfRows, row by row, then the next column")
        w(f"    /// of lines. The memory stream then overlaps these FMAs instead of following them.")
        w(f"    /// </remarks>")
    w(f"    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    w(f"    public static void {name}({args})")
    w("    {")
    for r in range(MR):
        for v in range(NV):
            w(f"        {V}<float> c{r}_{v};")
    w("        if (load)")
    w("        {")
    for r in range(MR):
        for v in range(NV):
            w(f"            c{r}_{v} = {V}.Load(c + {r} * ldc + {v * W});")
    w("        }")
    w("        else")
    w("        {")
    for r in range(MR):
        for v in range(NV):
            w(f"            c{r}_{v} = {V}<float>.Zero;")
    w("        }")
    if colsA:
        w("        nint l1 = lda, l2 = 2 * lda, l3 = 3 * lda;")
    if not packed:
        # Three base pointers and three row offsets address the rows: row 4q+s at base q + s·lda.
        offs = ["l1 = lda", "l2 = 2 * lda", "l3 = 3 * lda"][:min(3, MR - 1)]
        if offs:
            w("        nint " + ", ".join(offs) + ";")
        groups = (MR + 3) // 4
        for q in range(groups):
            w(f"        float* a{q} = a + {4*q} * lda;")
    def A(r, u):
        if colsA:
            return f"a[{r}]" if u == 0 else f"*(a + {['', 'l1', 'l2', 'l3'][u]} + {r})"
        if packed:
            return f"a[{u * MR + r}]"
        q, s = divmod(r, 4)
        off = ["", " + l1", " + l2", " + l3"][s]
        return f"*(a{q}{off} + {u})"
    def step(u, ind):
        for v in range(NV):
            if directB:
                boff = "" if u == 0 else (" + ldb" if u == 1 else f" + {u} * ldb")
                w(f"{ind}var b{v} = {V}.Load(b{boff} + {v * W});")
            else:
                w(f"{ind}var b{v} = {V}.Load(b + {u * NR + v * W});")
        for r in range(MR):
            w(f"{ind}var x{r} = {V}.Create({A(r, u)});")
            for v in range(NV):
                w(f"{ind}c{r}_{v} = {V}.FusedMultiplyAdd(x{r}, b{v}, c{r}_{v});")
    def advance(n, ind):
        w(f"{ind}b += {n} * ldb;" if directB else f"{ind}b += {n * NR};")
        if colsA:
            w(f"{ind}a += {n} * lda;" if n > 1 else f"{ind}a += lda;")
        elif packed:
            w(f"{ind}a += {n * MR};")
        else:
            for q in range((MR + 3) // 4):
                w(f"{ind}a{q} += {n};")
    if pfPer:
        w("        float* pfp = pf + pfRow0 * pfld;")
        w("        int pfr = pfRow0;")
    w("        int p = 0;")
    w("        for (; p + 4 <= kc; p += 4)")
    w("        {")
    for _ in range(pfPer):
        w("            if (pfLeft > 0)")
        w("            {")
        w("                System.Runtime.Intrinsics.X86.Sse.Prefetch1(pfp);")
        w("                pfLeft--;")
        w("                pfp += pfld;")
        w("                if (++pfr == pfRows)")
        w("                {")
        w("                    pfr = 0;")
        w("                    pf += 16;")
        w("                    pfp = pf;")
        w("                }")
        w("            }")
    if not packed and PREFETCH:
        # Rows of A are separate streams the hardware prefetcher follows poorly: fetch 4 lines ahead.
        for r in range(MR):
            q, s_ = divmod(r, 4)
            off = ["", " + l1", " + l2", " + l3"][s_]
            w(f"            System.Runtime.Intrinsics.X86.Sse.Prefetch0(a{q}{off} + {PREFETCH});")
    for u in range(4):
        w("            {")
        step(u, "                ")
        w("            }")
    advance(4, "            ")
    w("        }")
    w("        for (; p < kc; p++)")
    w("        {")
    step(0, "            ")
    advance(1, "            ")
    w("        }")
    for r in range(MR):
        for v in range(NV):
            w(f"        c{r}_{v}.Store(c + {r} * ldc + {v * W});")
    w("    }")
    return "\n".join(L)

out = ["// <auto-generated> by tools/gen-microkernels.py: register-tiled micro-kernels. </auto-generated>",
       "using System.Runtime.CompilerServices;", "using System.Runtime.Intrinsics;", "",
       "namespace Finetune.Tensors.Kernels;", "",
       "/// <summary>Register-tiled GEMM micro-kernels: 12x32 with Vector512 (24 accumulators, plus 8- and 4-row edges), 6x16 with Vector256 (12).</summary>",
       "internal static unsafe class MicroKernels", "{"]
for mr in (12, 8, 4):
    out.append(kernel(f"Packed{mr}x32", "Vector512", mr, 2, 16, True)); out.append("")
    out.append(kernel(f"Rows{mr}x32", "Vector512", mr, 2, 16, False)); out.append("")
    out.append(kernel(f"PackedDirect{mr}x32", "Vector512", mr, 2, 16, True, True)); out.append("")
    out.append(kernel(f"RowsDirect{mr}x32", "Vector512", mr, 2, 16, False, True)); out.append("")
for mr, per in ((12, 3), (8, 2), (4, 1)):
    out.append(kernel(f"PackedPrefetch{mr}x32", "Vector512", mr, 2, 16, True, pfPer=per)); out.append("")
    out.append(kernel(f"RowsPrefetch{mr}x32", "Vector512", mr, 2, 16, False, pfPer=per)); out.append("")
for mr in (6, 5, 4, 3, 2, 1):
    out.append(kernel(f"RowsDirect{mr}x64", "Vector512", mr, 4, 16, False, True)); out.append("")
    out.append(kernel(f"ColsDirect{mr}x64", "Vector512", mr, 4, 16, True, True, True)); out.append("")
out.append(kernel("Packed6x16", "Vector256", 6, 2, 8, True)); out.append("")
out.append(kernel("Rows6x16", "Vector256", 6, 2, 8, False))
out.append("}")
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src/Finetune/Tensors/Kernels/MicroKernels.g.cs"), "w").write("\n".join(out) + "\n")
