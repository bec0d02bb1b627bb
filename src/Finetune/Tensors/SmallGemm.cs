namespace Finetune.Tensors;

/// <summary>Single-threaded GEMM without packing, for attention-sized blocks run in parallel over batch×heads.</summary>
internal static unsafe class SmallGemm
{
    public static void Multiply(GemmForm form, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
        => GemmKernels.Rows(form, 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate, null);
}
