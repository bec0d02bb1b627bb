namespace Finetune.Tensors.Kernels;

/// <summary>
/// C[m, Σnᵢ] = A·[B₀; B₁; …]ᵀ + [b₀, b₁, …] with each Bᵢ [nᵢ, k] (and bᵢ [nᵢ]) in its own buffer: several Linear
/// layers reading one input as one product, without first copying their weights into one matrix (for bert-base's
/// query/key/value that copy moved 7 MB a layer on every call). Threads split the work as for one matrix, and
/// each thread's column range is computed segment by segment from the weight that holds it; the kernels give every
/// element the same FMA chain whatever the column range around it, so C has the bits of the product with the
/// stacked copy.
/// </summary>
internal static unsafe class StackedGemm
{
    /// <param name="weights">Bᵢ as pointers to [nᵢ, k] row-major data.</param>
    /// <param name="biases">bᵢ as pointers, or null for no bias.</param>
    /// <param name="colStart">colStart[i]: C's first column from Bᵢ; colStart[^1]: C's width (its row stride).</param>
    public static void MultiplyNT(int m, int k, float* a, nint[] weights, nint[]? biases, int[] colStart, float* c)
    {
        int n = colStart[^1];
        if (m == 0 || n == 0) return;
        var (parts, splitM) = GemmKernels.Partition(GemmForm.NT, m, n, k, Parallelism.Threads);
        nint pa = (nint)a, pc = (nint)c;
        if (parts <= 1)
        {
            Range(k, a, weights, biases, colStart, c, 0, m, 0, n);
            return;
        }
        int total = splitM ? m : n, unit = splitM ? GemmKernels.MR : GemmKernels.NR;
        int units = (total + unit - 1) / unit;
        Parallelism.Run(parts, p =>
        {
            int s = (int)((long)units * p / parts) * unit, e = Math.Min(total, (int)((long)units * (p + 1) / parts) * unit);
            if (s >= e) return;
            if (splitM) Range(k, (float*)pa, weights, biases, colStart, (float*)pc, s, e, 0, n);
            else Range(k, (float*)pa, weights, biases, colStart, (float*)pc, 0, m, s, e);
        });
    }

    /// <summary>Rows [m0, m1) and columns [n0, n1) of C, one weight's segment at a time.</summary>
    private static void Range(int k, float* a, nint[] weights, nint[]? biases, int[] colStart, float* c, int m0, int m1, int n0, int n1)
    {
        int ldc = colStart[^1];
        for (int i = 0; i < weights.Length; i++)
        {
            int s = Math.Max(n0, colStart[i]), e = Math.Min(n1, colStart[i + 1]);
            if (s >= e) continue;
            // Shifted bases, so that column j of C reads row j − colStart[i] of Bᵢ and element j − colStart[i] of bᵢ.
            float* b = (float*)weights[i] - (long)colStart[i] * k;
            float* bias = biases != null ? (float*)biases[i] - colStart[i] : null;
            GemmKernels.Block(GemmForm.NT, m0, m1, s, e, k, a, k, b, k, c, ldc, false, bias);
        }
    }
}
