namespace Finetune.Tensors.Kernels;

/// <summary>
/// The engine's thread count and its fork/join. Work is split into a fixed number of parts that depends only on
/// <see cref="Threads"/>, and every kernel computes each output element the same way whichever thread runs it,
/// so results are reproducible for a given thread count. Dedicated worker threads are woken per call: cheaper
/// and steadier than Parallel.For, which at times ran both halves on one thread.
/// </summary>
public static class Parallelism
{
    private static int _threads = Environment.ProcessorCount;

    /// <summary>How many threads kernels use (default: all logical processors).</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), "Parallelism.Threads must be at least 1.");
            _threads = value;
        }
    }

    /// <summary>Runs <paramref name="body"/>(part) for part in [0, parts) across the workers and waits for all.</summary>
    internal static void Run(int parts, Action<int> body)
    {
        if (parts <= 1)
        {
            for (int p = 0; p < parts; p++) body(p);
            return;
        }
        WorkerPool.Run(parts, body);
    }

    /// <summary>
    /// Splits [0, count) into at most <see cref="Threads"/> contiguous ranges and runs body(begin, end) on each,
    /// on the engine's worker threads; the split depends only on count and <see cref="Threads"/>.
    /// </summary>
    public static void For(int count, Action<int, int> body) => For(count, 1, body);

    /// <summary>
    /// Like <see cref="For(int, Action{int, int})"/> but with range starts on multiples of <paramref name="grain"/>,
    /// and no more parts than there are grains.
    /// </summary>
    public static void For(int count, int grain, Action<int, int> body)
    {
        if (count <= 0) return;
        int grains = (count + grain - 1) / grain;
        int parts = Math.Min(Threads, grains);
        if (parts <= 1)
        {
            body(0, count);
            return;
        }
        Run(parts, p =>
        {
            int b = (int)((long)grains * p / parts) * grain;
            int e = Math.Min(count, (int)((long)grains * (p + 1) / parts) * grain);
            if (b < e) body(b, e);
        });
    }
}

/// <summary>
/// Dedicated background workers; a call that finds them busy (another thread, or nested) runs inline.
/// A training step opens about a hundred parallel regions, many only tens of microseconds long, so both sides
/// spin briefly before blocking: a worker that went to sleep between two regions costs a wake-up of tens of
/// microseconds each time (a perf profile showed that much of the second core idle).
/// </summary>
internal static class WorkerPool
{
    /// <summary>How long an idle worker, or the caller waiting for the workers, spins before blocking.</summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 5000; // 200 µs

    private static readonly object Gate = new();
    private static readonly List<Worker> Workers = new();
    private static readonly ManualResetEventSlim Done = new(false, 1);
    private static int _pending;
    private static Exception? _error;

    [ThreadStatic] private static bool _inParallelRegion;

    public static void Run(int parts, Action<int> body)
    {
        if (_inParallelRegion || !Monitor.TryEnter(Gate))
        {
            for (int p = 0; p < parts; p++) body(p);
            return;
        }
        try
        {
            _inParallelRegion = true;
            while (Workers.Count < parts - 1) Workers.Add(new Worker());
            _error = null;
            Done.Reset();
            Volatile.Write(ref _pending, parts - 1);
            for (int w = 0; w < parts - 1; w++) Workers[w].Start(body, w + 1);
            try
            {
                body(0);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }
            var spin = new Spinner();
            while (Volatile.Read(ref _pending) != 0)
                if (!spin.Next())
                {
                    // The last worker of the previous region may signal Done after its decrement was already seen
                    // and this region reset the event: such a late signal must not end this wait while workers
                    // still run (the caller would go on reading their output, and reuse them mid-body).
                    Done.Wait();
                    if (Volatile.Read(ref _pending) != 0) Done.Reset();
                }
            if (_error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(_error).Throw();
        }
        finally
        {
            _inParallelRegion = false;
            Monitor.Exit(Gate);
        }
    }

    /// <summary>
    /// A bounded wait: <see cref="Next"/> spins briefly, then yields the processor between checks (so that on a
    /// busy machine the thread being waited for gets to run), and turns false once <see cref="SpinTicks"/> have passed.
    /// </summary>
    private struct Spinner
    {
        private SpinWait _wait;
        private long _deadline;

        public bool Next()
        {
            if (_wait.NextSpinWillYield)
            {
                long now = System.Diagnostics.Stopwatch.GetTimestamp();
                if (_deadline == 0) _deadline = now + SpinTicks;
                else if (now > _deadline) return false;
            }
            _wait.SpinOnce(sleep1Threshold: -1);
            return true;
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _wake = new(0);
        private Action<int>? _body;
        private int _part;
        private int _generation;
        private int _sleeping;

        public Worker()
        {
            var t = new Thread(Loop) { IsBackground = true, Name = "finetune-worker" };
            t.Start();
        }

        public void Start(Action<int> body, int part)
        {
            _body = body;
            _part = part;
            Interlocked.Increment(ref _generation);
            // A worker that announced it is going to sleep gets one release; a spinning one sees the generation.
            if (Interlocked.Exchange(ref _sleeping, 0) == 1) _wake.Release();
        }

        private void Loop()
        {
            _inParallelRegion = true;
            int seen = 0;
            while (true)
            {
                var spin = new Spinner();
                while (Volatile.Read(ref _generation) == seen)
                    if (!spin.Next())
                    {
                        Sleep(seen);
                        break;
                    }
                seen = Volatile.Read(ref _generation);
                try
                {
                    _body!(_part);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, e, null);
                }
                _body = null;
                if (Interlocked.Decrement(ref _pending) == 0) Done.Set();
            }
        }

        /// <summary>Blocks until the generation moves past <paramref name="seen"/>.</summary>
        private void Sleep(int seen)
        {
            while (Volatile.Read(ref _generation) == seen)
            {
                Interlocked.Exchange(ref _sleeping, 1);
                if (Volatile.Read(ref _generation) != seen)
                {
                    // Work arrived meanwhile: if Start already took the flag it also released once; consume that.
                    if (Interlocked.Exchange(ref _sleeping, 0) == 0) _wake.Wait();
                    return;
                }
                _wake.Wait();
            }
        }
    }
}
