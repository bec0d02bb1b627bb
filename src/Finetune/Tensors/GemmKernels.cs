using System.Runtime.Intrinsics;

namespace Finetune.Tensors;

/// <summary>Straightforward row-parallel kernels: every C element is one FMA chain over k in order.</summary>
internal static unsafe class GemmKernels
{
    public static void Run(GemmForm form, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        bool accumulate, float* bias, int threads)
    {
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c, pbias = (nint)bias;
        int parts = Math.Max(1, Math.Min(threads, m));
        Parallelism.Run(parts, p =>
        {
            int i0 = (int)((long)m * p / parts), i1 = (int)((long)m * (p + 1) / parts);
            Rows(form, i0, i1, n, k, (float*)pa, lda, (float*)pb, ldb, (float*)pc, ldc, accumulate, (float*)pbias);
        });
    }

    public static void Rows(GemmForm form, int i0, int i1, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc,
        bool accumulate, float* bias)
    {
        for (int i = i0; i < i1; i++)
        {
            float* crow = c + (long)i * ldc;
            if (!accumulate) new Span<float>(crow, n).Clear();
            if (form == GemmForm.NT)
            {
                float* arow = a + (long)i * lda;
                for (int j = 0; j < n; j++) crow[j] += Dot(arow, b + (long)j * ldb, k);
            }
            else
            {
                for (int p = 0; p < k; p++)
                {
                    float s = form == GemmForm.NN ? a[(long)i * lda + p] : a[(long)p * lda + i];
                    Axpy(s, b + (long)p * ldb, crow, n);
                }
            }
            if (bias != null) Axpy(1f, bias, crow, n);
        }
    }

    public static float Dot(float* x, float* y, int n)
    {
        int j = 0;
        var acc = Vector256<float>.Zero;
        for (; j <= n - 8; j += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(x + j), Vector256.Load(y + j), acc);
        float s = Vector256.Sum(acc);
        for (; j < n; j++) s = MathF.FusedMultiplyAdd(x[j], y[j], s);
        return s;
    }

    public static void Axpy(float alpha, float* x, float* y, int n)
    {
        int j = 0;
        var va = Vector256.Create(alpha);
        for (; j <= n - 8; j += 8) Vector256.FusedMultiplyAdd(va, Vector256.Load(x + j), Vector256.Load(y + j)).Store(y + j);
        for (; j < n; j++) y[j] = MathF.FusedMultiplyAdd(alpha, x[j], y[j]);
    }
}
