namespace Finetune.Tensors.Kernels;

/// <summary>Which operands of <see cref="Gemm"/> are read transposed.</summary>
public enum GemmForm
{
    /// <summary>C = A·B with A [m,k], B [k,n].</summary>
    NN,
    /// <summary>C = A·Bᵀ with A [m,k], B [n,k] (Linear forward with W [out,in]).</summary>
    NT,
    /// <summary>C = Aᵀ·B with A [k,m], B [k,n] (weight gradient Xᵀ·dY).</summary>
    TN,
}

/// <summary>
/// Single-precision matrix multiply on row-major data: C (=|+=) op(A)·op(B) (+ bias per column).
/// Uses <see cref="Parallelism.Threads"/> threads; results are reproducible for a given thread count.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>
    /// C[m,n] = op(A)·op(B), or C += op(A)·op(B) with <paramref name="accumulate"/>; a non-empty
    /// <paramref name="bias"/> (length n) is added to every row. Operands are dense row-major.
    /// </summary>
    public static void Multiply(GemmForm form, int m, int n, int k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c,
        bool accumulate = false, ReadOnlySpan<float> bias = default)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Gemm: negative size m={m} n={n} k={k}.");
        if (a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
            throw new ArgumentException($"Gemm {form}: operands too short for m={m} n={n} k={k} (A {a.Length}, B {b.Length}, C {c.Length}).");
        if (!bias.IsEmpty && bias.Length < n) throw new ArgumentException($"Gemm: bias has {bias.Length} values, needs {n}.");
        int lda = form == GemmForm.TN ? m : k;
        int ldb = form == GemmForm.NT ? k : n;
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
            Multiply(form, m, n, k, pa, lda, pb, ldb, pc, n, accumulate, bias.IsEmpty ? null : pbias);
    }

    /// <summary>The micro-kernel in use, e.g. "12x32 Vector512 FMA" (for version and benchmark output).</summary>
    public static string KernelName => GemmKernels.UseVector512 ? "12x32 Vector512 FMA" : "6x16 Vector256 FMA";

    /// <summary>Pointer form with leading dimensions (row strides) for sub-matrices of larger buffers.</summary>
    internal static void Multiply(GemmForm form, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        bool accumulate, float* bias)
    {
        if (m == 0 || n == 0) return;
        GemmKernels.Run(form, m, n, k, a, lda, b, ldb, c, ldc, accumulate, bias, Parallelism.Threads);
    }
}
