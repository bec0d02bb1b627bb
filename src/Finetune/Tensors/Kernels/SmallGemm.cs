namespace Finetune.Tensors.Kernels;

/// <summary>
/// Single-threaded GEMM for attention-sized blocks (one batch×head each), run in parallel over batch×heads by
/// the caller: no fork/join per product, A read in place.
/// </summary>
internal static unsafe class SmallGemm
{
    public static void Multiply(GemmForm form, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
        => GemmKernels.Block(form, 0, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate, null);
}
