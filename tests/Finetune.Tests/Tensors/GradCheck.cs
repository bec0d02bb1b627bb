using Finetune.Tensors;

namespace Finetune.Tests.Tensors;

/// <summary>
/// One op under test: how to run it on float tensors, and its double-precision reference. Inputs are drawn
/// N(0, 1) (times <see cref="InputScale"/>); <see cref="Grad"/> says which of them the gradient is checked for.
/// </summary>
internal sealed record OpCase(string Name, int[][] Shapes, Func<Tensor[], Tensor> Op, Func<double[][], double[]> Reference)
{
    public bool[]? Grad { get; init; }
    public float InputScale { get; init; } = 1f;
    /// <summary>Replaces the random values of an input (for example targets in [0, 1]).</summary>
    public Action<int, float[]>? Prepare { get; init; }
}

/// <summary>
/// Checks an op's forward against its double reference and its backward against central finite differences of
/// that reference (h = 1e-6 in double, so the numeric gradient is exact to far below float precision).
/// </summary>
internal static class GradCheck
{
    public static void Run(OpCase c, ulong seed = 1)
    {
        var rng = new Generator(seed);
        int nIn = c.Shapes.Length;
        var data = new float[nIn][];
        var inputs = new Tensor[nIn];
        for (int i = 0; i < nIn; i++)
        {
            var t = Tensor.Randn(rng, c.InputScale, c.Shapes[i]);
            data[i] = t.ToArray();
            c.Prepare?.Invoke(i, data[i]);
            inputs[i] = Tensor.FromArray(data[i], c.Shapes[i]);
            inputs[i].RequiresGrad = c.Grad?[i] ?? true;
        }
        var xd = data.Select(a => a.Select(v => (double)v).ToArray()).ToArray();

        Tensor y = c.Op(inputs);
        double[] yRef = c.Reference(xd);
        Assert.Equal(yRef.Length, y.Length);
        double yMax = yRef.Length == 0 ? 0 : yRef.Max(Math.Abs);
        var yv = y.ToArray();
        for (int i = 0; i < yRef.Length; i++)
            Assert.True(Math.Abs(yv[i] - yRef[i]) <= 2e-5 * (1 + yMax) + 1e-4 * Math.Abs(yRef[i]),
                $"{c.Name}: forward[{i}] = {yv[i]}, reference {yRef[i]}");

        // Seed the backward pass with random weights r: the gradients are those of L = Σ r·y.
        var r = new float[y.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)rng.NextNormal();
        y.Backward(Tensor.FromArray(r, y.Shape));

        for (int i = 0; i < nIn; i++)
        {
            if (!inputs[i].RequiresGrad) continue;
            Assert.NotNull(inputs[i].Grad);
            var g = inputs[i].Grad!.ToArray();
            int n = xd[i].Length;
            var numeric = new double[n];
            // Large inputs: check a fixed random subset of elements to keep the test fast.
            var idx = n <= 400 ? Enumerable.Range(0, n).ToArray() : Enumerable.Range(0, 400).Select(_ => rng.NextInt(n)).ToArray();
            foreach (int j in idx) numeric[j] = Numeric(c, xd, r, i, j);
            double gMax = idx.Max(j => Math.Abs(numeric[j]));
            foreach (int j in idx)
                Assert.True(Math.Abs(g[j] - numeric[j]) <= 1e-4 * (1 + gMax) + 1e-3 * Math.Abs(numeric[j]),
                    $"{c.Name}: d/d(input {i})[{j}] = {g[j]}, finite difference {numeric[j]}");
        }
    }

    private static double Numeric(OpCase c, double[][] xd, float[] r, int input, int j)
    {
        double x0 = xd[input][j];
        double h = 1e-6 * Math.Max(1, Math.Abs(x0));
        xd[input][j] = x0 + h;
        double lp = Dot(c.Reference(xd), r);
        xd[input][j] = x0 - h;
        double lm = Dot(c.Reference(xd), r);
        xd[input][j] = x0;
        return (lp - lm) / (2 * h);
    }

    private static double Dot(double[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
