using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

/// <summary>Tests that change <see cref="Parallelism.Threads"/> must not run beside each other.</summary>
[CollectionDefinition("Parallelism", DisableParallelization = true)]
public class ParallelismCollection;

[Collection("Parallelism")]
public class GemmTests
{
    public static TheoryData<GemmForm, int, int, int> Shapes()
    {
        var d = new TheoryData<GemmForm, int, int, int>();
        int[][] shapes =
        [
            [1, 1, 1], [1, 17, 5], [13, 1, 7], [3, 5, 1], [37, 29, 53], [12, 32, 4], [25, 67, 131],
            [200, 33, 515], [193, 100, 17], [64, 64, 64], [128, 64, 128], [7, 3100, 9], [260, 40, 1030], [33, 70, 65], [29, 64, 70],
            // Few rows against a wide transposed B (a Linear on one short sequence): slivers packed one at a time.
            [32, 96, 768], [50, 130, 600], [200, 260, 200],
        ];
        foreach (var form in new[] { GemmForm.NN, GemmForm.NT, GemmForm.TN })
            foreach (var s in shapes) d.Add(form, s[0], s[1], s[2]);
        return d;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesDoubleReferenceAtOneAndAllThreads(GemmForm form, int m, int n, int k)
    {
        var rng = new Generator((ulong)(m * 7919 + n * 31 + k));
        var a = new float[m * k];
        var b = new float[k * n];
        var bias = new float[n];
        var c0 = new float[m * n];
        rng.FillUniform(a, -1, 1);
        rng.FillUniform(b, -1, 1);
        rng.FillUniform(bias, -1, 1);
        rng.FillUniform(c0, -1, 1);
        int saved = Parallelism.Threads;
        bool savedWide = GemmKernels.UseVector512;
        var first = new Dictionary<(bool, bool), float[]>();
        try
        {
            // The Vector256 6x16 kernel (CPUs without AVX-512) is exercised here too.
            foreach (bool wide in savedWide ? new[] { true, false } : new[] { false })
                foreach (int threads in new[] { 1, Environment.ProcessorCount })
                {
                    GemmKernels.UseVector512 = wide;
                    Parallelism.Threads = threads;
                    foreach (bool accumulate in new[] { false, true })
                        foreach (bool withBias in new[] { false, true })
                        {
                            var c = (float[])c0.Clone();
                            Gemm.Multiply(form, m, n, k, a, b, c, accumulate, withBias ? bias : default);
                            var again = (float[])c0.Clone();
                            Gemm.Multiply(form, m, n, k, a, b, again, accumulate, withBias ? bias : default);
                            Assert.Equal(c, again); // deterministic for a given thread count
                            string what = $"threads={threads} wide={wide} acc={accumulate} bias={withBias}";
                            Check(form, m, n, k, a, b, withBias ? bias : null, accumulate ? c0 : null, c, what);
                            // Every element is one FMA chain over k in order, whatever the tiling or thread split.
                            if (first.TryGetValue((accumulate, withBias), out var reference)) Assert.Equal(reference, c);
                            else first[(accumulate, withBias)] = c;
                        }
                }
        }
        finally
        {
            Parallelism.Threads = saved;
            GemmKernels.UseVector512 = savedWide;
        }
    }

    private static void Check(GemmForm form, int m, int n, int k, float[] a, float[] b, float[]? bias, float[]? c0, float[] c, string what)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = (bias?[j] ?? 0) + (c0?[i * n + j] ?? 0), mag = Math.Abs(bias?[j] ?? 0) + Math.Abs(c0?[i * n + j] ?? 0);
                for (int p = 0; p < k; p++)
                {
                    double av = form == GemmForm.TN ? a[p * m + i] : a[i * k + p];
                    double bv = form == GemmForm.NT ? b[j * k + p] : b[p * n + j];
                    s += av * bv;
                    mag += Math.Abs(av * bv);
                }
                double err = Math.Abs(c[i * n + j] - s);
                Assert.True(err <= 1e-6 * (mag + 1) * Math.Sqrt(k + 1), $"{form} {m}x{n}x{k} {what}: C[{i},{j}] = {c[i * n + j]}, reference {s}");
            }
    }

    [Fact]
    public void RejectsOperandsThatAreTooShort()
    {
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(GemmForm.NN, 2, 2, 2, new float[3], new float[4], new float[4]));
    }

    [Fact]
    public void ZeroInnerDimensionGivesBiasOrUnchangedOutput()
    {
        var c = new float[] { 5f, 6f };
        Gemm.Multiply(GemmForm.NN, 1, 2, 0, Array.Empty<float>(), Array.Empty<float>(), c, accumulate: true);
        Assert.Equal(new[] { 5f, 6f }, c);
        Gemm.Multiply(GemmForm.NT, 1, 2, 0, Array.Empty<float>(), Array.Empty<float>(), c, bias: new[] { 1f, 2f });
        Assert.Equal(new[] { 1f, 2f }, c);
    }
}
