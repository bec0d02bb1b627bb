using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Bench;

/// <summary>
/// GFLOP/s of the engine's GEMM in the three forms training uses, at BERT-base, bert-tiny and per-head attention
/// shapes, on one thread and on all, beside OpenBLAS's cblas_sgemm measured in the same run when
/// libopenblas.so.0 is installed. Attention shapes run a batch of 384 heads (32 sequences × 12 heads): the
/// engine through its small-GEMM path in parallel over heads, OpenBLAS single-threaded per head on the same
/// worker threads (its fastest use for many small products).
/// </summary>
public sealed unsafe class GemmSuite : IBenchSuite
{
    private static readonly int Heads = int.TryParse(Environment.GetEnvironmentVariable("FINETUNE_BENCH_HEADS"), out int h) ? h : 384;

    public string Name => "gemm";

    public string Description => "GEMM GFLOP/s (NN, NT, TN) vs OpenBLAS cblas_sgemm, best and median round; options: --rounds N (3), --min-ms MS (200), --only SUBSTR, --threads LIST (1,all), --shapes MxKxN[h],... (h: per-head batch), --cpu-time";

    public int Run(string[] args, BenchResults results)
    {
        int rounds = IntOption(args, "--rounds", 3);
        int minMs = IntOption(args, "--min-ms", 200);
        string? only = StringOption(args, "--only");
        // On a machine shared with other work, process CPU time instead of wall time gives the kernel's own speed
        // (meaningful for one thread only: it cannot see time lost waiting for a busy core).
        _cpuTime = Array.IndexOf(args, "--cpu-time") >= 0;
        string? threadList = StringOption(args, "--threads");
        bool blas = OpenBlas.TryLoad();
        int all = Environment.ProcessorCount;
        int[] threadCounts = threadList != null
            ? threadList.Split(',').Select(x => x == "all" ? all : int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
            : all > 1 ? [1, all] : [1];
        Console.WriteLine($"gemm: {Environment.ProcessorCount} logical CPUs, kernel {Gemm.KernelName}, best of {rounds} rounds of >= {minMs} ms{(_cpuTime ? ", process CPU time" : ", wall time")}");
        if (!blas) Console.WriteLine("openblas absent (install libopenblas0-pthread to measure the peer)");
        (int M, int K, int N, bool Attention)[] shapes =
        [
            (4096, 768, 768, false), (4096, 768, 3072, false), (4096, 3072, 768, false),
            (4096, 128, 128, false), (4096, 128, 512, false), (4096, 512, 128, false),
            (128, 64, 128, true), (64, 64, 64, true),
        ];
        if (StringOption(args, "--shapes") is string custom)
            shapes = custom.Split(',').Select(x =>
            {
                var d = x.TrimEnd('h').Split('x').Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                return (d[0], d[1], d[2], x.EndsWith('h'));
            }).ToArray();
        Console.WriteLine();
        Console.WriteLine("| op | m x k x n | threads | finetune GFLOP/s | openblas GFLOP/s | ratio | finetune median | openblas median |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (m, k, n, attention) in shapes)
            foreach (var form in new[] { GemmForm.NN, GemmForm.NT, GemmForm.TN })
                foreach (int threads in threadCounts)
                {
                    string label = $"{m}x{k}x{n}{(attention ? $" (x{Heads} heads)" : "")}";
                    if (only != null && !$"{form} {label}".Contains(only, StringComparison.Ordinal)) continue;
                    int batch = attention ? Heads : 1;
                    using var op = new Operands(form, m, k, n, batch);
                    double flops = 2.0 * m * k * n * batch;
                    Parallelism.Threads = threads;
                    var (oursBest, oursMedian) = Timed(() => op.RunEngine(), rounds, minMs);
                    double ours = flops / oursBest / 1e9;
                    double? peer = null, peerMedian = null;
                    if (blas)
                    {
                        var (peerBest, peerMid) = Timed(() => op.RunOpenBlas(threads), rounds, minMs);
                        (peer, peerMedian) = (flops / peerBest / 1e9, flops / peerMid / 1e9);
                        op.CheckAgreement();
                    }
                    Parallelism.Threads = all;
                    Console.WriteLine($"| {form} | {label} | {threads} | {ours:F1} | {(peer is double p ? p.ToString("F1") : "-")} | {(peer is double q ? (ours / q).ToString("F2") : "-")} | {flops / oursMedian / 1e9:F1} | {(peerMedian is double pm ? pm.ToString("F1") : "-")} |");
                    var row = new JsonObject
                    {
                        ["suite"] = "gemm",
                        ["op"] = form.ToString(),
                        ["m"] = m,
                        ["k"] = k,
                        ["n"] = n,
                        ["threads"] = threads,
                        ["gflops"] = Math.Round(ours, 1),
                        ["gflops_median"] = Math.Round(flops / oursMedian / 1e9, 1),
                        ["rounds"] = rounds,
                    };
                    if (attention) row["batch"] = batch;
                    if (peer is double pg)
                    {
                        row["peer"] = "openblas";
                        row["peer_gflops"] = Math.Round(pg, 1);
                        row["peer_gflops_median"] = Math.Round(peerMedian!.Value, 1);
                    }
                    results.Add(row);
                }
        return 0;
    }

    /// <summary>
    /// The machine's measured GEMM peak for MFU: the engine's best GFLOP/s over the BERT-base shapes (4096 rows;
    /// 768x768, 768x3072, 3072x768) in all three forms at <paramref name="threads"/> threads, the suite's
    /// large-shape figure. Wall time, whatever --cpu-time says.
    /// </summary>
    internal static double PeakGflops(int threads, int rounds = 2, int minMs = 200)
    {
        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        double best = 0;
        foreach (var (m, k, n) in new[] { (4096, 768, 768), (4096, 768, 3072), (4096, 3072, 768) })
            foreach (var form in new[] { GemmForm.NN, GemmForm.NT, GemmForm.TN })
            {
                using var op = new Operands(form, m, k, n, 1);
                best = Math.Max(best, 2.0 * m * k * n / Best(() => op.RunEngine(), rounds, minMs) / 1e9);
            }
        Parallelism.Threads = saved;
        return best;
    }

    private static bool _cpuTime;

    /// <summary>Best seconds per call over several rounds, each at least minMs long (after one warm-up call).</summary>
    private static double Best(Action run, int rounds, int minMs) => Timed(run, rounds, minMs).Best;

    /// <summary>Seconds per call: the best and the median of the rounds (the spread says how noisy the figure is).</summary>
    private static (double Best, double Median) Timed(Action run, int rounds, int minMs)
    {
        run();
        var perRound = new List<double>(rounds);
        for (int r = 0; r < rounds; r++)
        {
            double cpu0 = ProcessCpuSeconds();
            var sw = Stopwatch.StartNew();
            int calls = 0;
            do
            {
                run();
                calls++;
            } while (sw.Elapsed.TotalMilliseconds < minMs);
            double seconds = _cpuTime ? ProcessCpuSeconds() - cpu0 : sw.Elapsed.TotalSeconds;
            perRound.Add(seconds / calls);
        }
        perRound.Sort();
        return (perRound[0], perRound[perRound.Count / 2]);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec ts);

    /// <summary>CPU time of the whole process with nanosecond resolution (CLOCK_PROCESS_CPUTIME_ID).</summary>
    private static double ProcessCpuSeconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(2, out var ts) == 0) return ts.Seconds + ts.Nanoseconds * 1e-9;
        return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : fallback;
    }

    private static string? StringOption(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Random operands for one shape (batch copies for attention) and the two ways to multiply them.</summary>
    private sealed class Operands : IDisposable
    {
        private readonly GemmForm _form;
        private readonly int _m, _k, _n, _batch;
        private readonly float* _a, _b, _c, _cPeer;

        public Operands(GemmForm form, int m, int k, int n, int batch)
        {
            (_form, _m, _k, _n, _batch) = (form, m, k, n, batch);
            _a = Alloc((long)m * k * batch);
            _b = Alloc((long)k * n * batch);
            _c = Alloc((long)m * n * batch);
            _cPeer = Alloc((long)m * n * batch);
            var rng = new Generator(1);
            rng.FillUniform(new Span<float>(_a, m * k * batch), -1, 1);
            rng.FillUniform(new Span<float>(_b, k * n * batch), -1, 1);
        }

        private int Lda => _form == GemmForm.TN ? _m : _k;
        private int Ldb => _form == GemmForm.NT ? _k : _n;

        public void RunEngine()
        {
            if (_batch == 1)
            {
                Gemm.Multiply(_form, _m, _n, _k, _a, Lda, _b, Ldb, _c, _n, false, null);
                return;
            }
            nint a = (nint)_a, b = (nint)_b, c = (nint)_c;
            Parallelism.For(_batch, (h0, h1) =>
            {
                for (int h = h0; h < h1; h++)
                    SmallGemm.Multiply(_form, _m, _n, _k, (float*)a + (long)h * _m * _k, Lda, (float*)b + (long)h * _k * _n, Ldb,
                        (float*)c + (long)h * _m * _n, _n, false);
            });
        }

        public void RunOpenBlas(int threads)
        {
            int ta = _form == GemmForm.TN ? OpenBlas.Trans : OpenBlas.NoTrans;
            int tb = _form == GemmForm.NT ? OpenBlas.Trans : OpenBlas.NoTrans;
            if (_batch == 1)
            {
                OpenBlas.SetThreads(threads);
                OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, _m, _n, _k, 1f, _a, Lda, _b, Ldb, 0f, _cPeer, _n);
                return;
            }
            OpenBlas.SetThreads(1);
            nint a = (nint)_a, b = (nint)_b, c = (nint)_cPeer;
            Parallelism.For(_batch, (h0, h1) =>
            {
                for (int h = h0; h < h1; h++)
                    OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, _m, _n, _k, 1f, (float*)a + (long)h * _m * _k, Lda,
                        (float*)b + (long)h * _k * _n, Ldb, 0f, (float*)c + (long)h * _m * _n, _n);
            });
        }

        /// <summary>Guards the comparison: both libraries must have computed the same product.</summary>
        public void CheckAgreement()
        {
            long len = (long)_m * _n * _batch;
            for (long i = 0; i < len; i += 9973)
                if (Math.Abs(_c[i] - _cPeer[i]) > 1e-3f * (1 + Math.Abs(_cPeer[i])))
                    throw new InvalidOperationException($"gemm {_form} {_m}x{_k}x{_n}: engine {_c[i]} vs openblas {_cPeer[i]} at {i}");
        }

        private static float* Alloc(long n) => (float*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(float)), 64);

        public void Dispose()
        {
            NativeMemory.AlignedFree(_a);
            NativeMemory.AlignedFree(_b);
            NativeMemory.AlignedFree(_c);
            NativeMemory.AlignedFree(_cPeer);
        }
    }

    /// <summary>cblas_sgemm from libopenblas.so.0, bound at run time so the suite works without it.</summary>
    private static class OpenBlas
    {
        public const int RowMajor = 101, NoTrans = 111, Trans = 112;
        private static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
        private static delegate* unmanaged<int, void> _setThreads;

        public static bool TryLoad()
        {
            if (!NativeLibrary.TryLoad("libopenblas.so.0", out var lib)) return false;
            if (!NativeLibrary.TryGetExport(lib, "cblas_sgemm", out var sgemm)) return false;
            _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
            if (NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out var st)) _setThreads = (delegate* unmanaged<int, void>)st;
            return true;
        }

        public static void SetThreads(int n)
        {
            if (_setThreads != null) _setThreads(n);
        }

        public static void Sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
            float beta, float* c, int ldc) => _sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
