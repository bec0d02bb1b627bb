using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Finetune.Training.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> over Open MPI's MPI_COMM_WORLD. Errors return instead of aborting inside MPI
/// (MPI_ERRORS_RETURN) and every collective is non-blocking and polled against a deadline, so a rank that dies
/// or hangs ends the job with rank 0's message naming it: before each collective every rank sends rank 0 a small
/// "arrived" message, so rank 0 knows which ranks never reached it. When mpirun itself ends the job after a rank
/// died (it sends the others SIGTERM), rank 0 names the rank whose process is gone. When every rank reached the
/// collective but it never completes, rank 0 pings each rank (ranks answer while they wait in a collective) and
/// names those that do not answer.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    private const int ArrivedTag = 7301, PingTag = 7302, PongTag = 7303;
    private readonly MpiNative mpi;
    private readonly TimeSpan timeout;
    private readonly int[] arrivedIn;   // rank 0: the sequence number each rank sent for the current collective
    private readonly int[] arrivedOut;  // this rank's outgoing sequence number
    private readonly nint[] arrivedRequests;
    private readonly bool[] arrived;
    private readonly int[] ping = GC.AllocateArray<int>(1, pinned: true);
    private nint pingRequest;
    private readonly (int Pid, int Host)[] peers;
    private PosixSignalRegistration? termHandler;
    private int sequence;
    private string current = "start-up";
    private bool disposed;

    private MpiCommunicator(MpiNative mpi, int rank, int size, int localSize, TimeSpan timeout)
    {
        this.mpi = mpi;
        Rank = rank;
        Size = size;
        LocalSize = localSize;
        this.timeout = timeout;
        arrivedIn = GC.AllocateArray<int>(size, pinned: true);
        arrivedOut = GC.AllocateArray<int>(1, pinned: true);
        arrivedRequests = new nint[size];
        arrived = new bool[size];
        peers = new (int, int)[size];
    }

    public int Rank { get; }
    public int Size { get; }
    public int LocalSize { get; }

    /// <summary>Seconds a collective may wait for the slowest rank (FINETUNE_MPI_TIMEOUT, default 600: a checkpoint save on rank 0 happens inside that wait).</summary>
    public TimeSpan Timeout => timeout;

    /// <summary>
    /// Initializes MPI (once per process) for the job mpirun started and returns the world communicator. Throws
    /// Unsupported (exit 7) when libmpi cannot be loaded.
    /// </summary>
    public static MpiCommunicator Init(TimeSpan? timeout = null)
    {
        var mpi = MpiNative.Load();
        int initialized = 0;
        mpi.Initialized(&initialized);
        if (initialized == 0)
        {
            int provided = 0;
            int rc = mpi.InitThread(null, null, MpiNative.ThreadSerialized, &provided);
            if (rc != 0) throw new FinetuneException(ErrorKind.Unsupported, $"MPI_Init_thread failed: {mpi.Describe(rc)}.");
        }
        Check(mpi, mpi.CommSetErrhandler(mpi.CommWorld, mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank = 0, size = 0;
        Check(mpi, mpi.CommRank(mpi.CommWorld, &rank), "MPI_Comm_rank");
        Check(mpi, mpi.CommSize(mpi.CommWorld, &size), "MPI_Comm_size");
        int localSize = DistributedLaunch.EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1;
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("FINETUNE_MPI_TIMEOUT"), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 600;
        var comm = new MpiCommunicator(mpi, rank, size, Math.Max(1, localSize), timeout ?? TimeSpan.FromSeconds(seconds));
        comm.ExchangeIdentities();
        comm.ListenForPing();
        comm.termHandler = PosixSignalRegistration.Create(PosixSignal.SIGTERM, comm.OnTerminate);
        return comm;
    }

    private static void Check(MpiNative mpi, int rc, string what)
    {
        if (rc != 0) throw new FinetuneException(ErrorKind.Unsupported, $"{what} failed: {mpi.Describe(rc)}.");
    }

    // Every rank's process id and host, so that rank 0 can tell which local rank's process is gone.
    private void ExchangeIdentities()
    {
        var ids = new double[2 * Size];
        ids[2 * Rank] = Environment.ProcessId;
        ids[2 * Rank + 1] = HostId();
        AllReduceSum(ids);
        for (int r = 0; r < Size; r++) peers[r] = ((int)ids[2 * r], (int)ids[2 * r + 1]);
    }

    public void AllReduceSum(float[] buffer, int offset, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)offset + count, buffer.Length);
        fixed (float* p = buffer)
        {
            nint request = 0;
            BeginCollective("allreduce");
            Post(mpi.Iallreduce(MpiNative.InPlace, p + offset, count, mpi.Float, mpi.OpSum, mpi.CommWorld, &request));
            Complete(request);
        }
    }

    public void AllReduceSum(double[] buffer)
    {
        fixed (double* p = buffer)
        {
            nint request = 0;
            BeginCollective("allreduce");
            Post(mpi.Iallreduce(MpiNative.InPlace, p, buffer.Length, mpi.Double, mpi.OpSum, mpi.CommWorld, &request));
            Complete(request);
        }
    }

    public void Broadcast(float[] buffer, int offset, int count, int root)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)offset + count, buffer.Length);
        fixed (float* p = buffer)
        {
            nint request = 0;
            BeginCollective("broadcast");
            Post(mpi.Ibcast(p + offset, count, mpi.Float, root, mpi.CommWorld, &request));
            Complete(request);
        }
    }

    public void Barrier()
    {
        nint request = 0;
        BeginCollective("barrier");
        Post(mpi.Ibarrier(mpi.CommWorld, &request));
        Complete(request);
    }

    public void Abort(int exitCode)
    {
        FinetuneLog.Flush();
        mpi.AbortJob(mpi.CommWorld, exitCode);
        MpiNative.ExitNow(exitCode);
    }

    private void BeginCollective(string what)
    {
        current = what;
        sequence++;
        if (Rank == 0)
        {
            for (int r = 1; r < Size; r++)
            {
                arrived[r] = false;
                nint request = 0;
                Post(mpi.Irecv(At(arrivedIn, r), 1, mpi.Int, r, ArrivedTag, mpi.CommWorld, &request));
                arrivedRequests[r] = request;
            }
            arrived[0] = true;
        }
        else
        {
            arrivedOut[0] = sequence;
            nint request = 0;
            Post(mpi.Isend(At(arrivedOut, 0), 1, mpi.Int, 0, ArrivedTag, mpi.CommWorld, &request));
            arrivedRequests[0] = request;
        }
    }

    // The arrays are allocated pinned, so their addresses stay valid while MPI holds them.
    private static int* At(int[] pinned, int index) => (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref pinned[index]);

    private void Post(int rc)
    {
        if (rc != 0) Fail($"MPI could not start the {current}: {mpi.Describe(rc)}");
    }

    // Polls the collective and this rank's "arrived" messages until all complete, the deadline passes, or MPI
    // reports an error; then the job ends with a message naming the missing ranks.
    private void Complete(nint request)
    {
        var clock = Stopwatch.StartNew();
        int spins = 0;
        bool done = false;
        while (true)
        {
            int flag = 0;
            if (!done)
            {
                int rc = mpi.Test(&request, &flag, null);
                if (rc != 0) Fail($"the {current} failed: {mpi.Describe(rc)}");
                done = flag != 0;
            }
            bool allArrived = PollArrivals();
            if (done && allArrived) return;
            if (clock.Elapsed > timeout) Fail($"the {current} did not complete within {timeout.TotalSeconds:0} s");
            // Short collectives finish in microseconds; long waits (a checkpoint being saved) must not burn a core.
            if (++spins < 2000) Thread.SpinWait(20);
            else Thread.Sleep(1);
        }
    }

    private void ListenForPing()
    {
        if (Rank == 0) return;
        nint request = 0;
        Post(mpi.Irecv(At(ping, 0), 1, mpi.Int, 0, PingTag, mpi.CommWorld, &request));
        pingRequest = request;
    }

    // A rank waiting in a collective answers rank 0's ping, so rank 0 can tell it from one that hangs.
    private void AnswerPing()
    {
        if (Rank == 0 || pingRequest == 0) return;
        int flag = 0;
        nint request = pingRequest;
        if (mpi.Test(&request, &flag, null) != 0 || flag == 0) return;
        nint send = 0;
        if (mpi.Isend(At(ping, 0), 1, mpi.Int, 0, PongTag, mpi.CommWorld, &send) == 0) mpi.RequestFree(&send);
        ListenForPing();
    }

    // Rank 0, after a collective every rank reached timed out: the ranks that do not answer a ping within a few seconds.
    private List<int> Unresponsive()
    {
        var pongs = GC.AllocateArray<int>(Size, pinned: true);
        var requests = new nint[Size];
        var answered = new bool[Size];
        for (int r = 1; r < Size; r++)
        {
            nint send = 0, recv = 0;
            if (mpi.Isend(At(ping, 0), 1, mpi.Int, r, PingTag, mpi.CommWorld, &send) == 0) mpi.RequestFree(&send);
            if (mpi.Irecv(At(pongs, r), 1, mpi.Int, r, PongTag, mpi.CommWorld, &recv) == 0) requests[r] = recv;
        }
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(Math.Min(10, timeout.TotalSeconds)) && answered.Skip(1).Any(a => !a))
        {
            for (int r = 1; r < Size; r++)
            {
                if (answered[r] || requests[r] == 0) continue;
                int flag = 0;
                nint request = requests[r];
                if (mpi.Test(&request, &flag, null) == 0 && flag != 0) answered[r] = true;
            }
            Thread.Sleep(1);
        }
        var silent = new List<int>();
        for (int r = 1; r < Size; r++)
            if (!answered[r]) silent.Add(r);
        return silent;
    }

    private bool PollArrivals()
    {
        AnswerPing();
        bool all = true;
        if (Rank == 0)
        {
            for (int r = 1; r < Size; r++)
            {
                if (arrived[r]) continue;
                int flag = 0;
                nint request = arrivedRequests[r];
                int rc = mpi.Test(&request, &flag, null);
                arrivedRequests[r] = request;
                if (rc != 0) Fail($"the {current} failed: {mpi.Describe(rc)}");
                if (flag != 0) arrived[r] = true;
                else all = false;
            }
        }
        else if (arrivedRequests[0] != 0)
        {
            int flag = 0;
            nint request = arrivedRequests[0];
            int rc = mpi.Test(&request, &flag, null);
            if (rc != 0) Fail($"the {current} failed: {mpi.Describe(rc)}");
            if (flag != 0) arrivedRequests[0] = 0;
            else all = false;
        }
        return all;
    }

    private void Fail(string why)
    {
        string who = Rank == 0 ? MissingRanks(probe: true) : "";
        FinetuneLog.Flush();
        FinetuneLog.Write(Rank == 0
            ? $"error: rank 0: {why} (collective #{sequence}); {who}; ending the job."
            : $"error: rank {Rank}: {why} (collective #{sequence}); ending the job.");
        Abort(1);
    }

    // Which ranks are gone: local processes that no longer exist, else ranks that never reached the collective.
    private string MissingRanks(bool probe = false)
    {
        var dead = new List<int>();
        int host = HostId();
        for (int r = 1; r < Size; r++)
            if (peers[r].Host == host && peers[r].Pid > 0 && !ProcessAlive(peers[r].Pid)) dead.Add(r);
        if (dead.Count > 0) return $"rank {string.Join(", ", dead)} (pid {string.Join(", ", dead.Select(r => peers[r].Pid))}) died";
        var missing = new List<int>();
        for (int r = 1; r < Size; r++)
            if (!arrived[r]) missing.Add(r);
        if (missing.Count > 0) return $"rank {string.Join(", ", missing)} did not reach the {current}";
        if (!probe) return "every rank had reached it";
        var silent = Unresponsive();
        return silent.Count > 0 ? $"rank {string.Join(", ", silent)} stopped responding inside the {current}" : "every rank reached it and answers, so MPI itself failed";
    }

    // FNV-1a of the host name: string.GetHashCode is randomized per process, and this must agree across ranks.
    private static int HostId()
    {
        uint h = 2166136261;
        foreach (char c in Environment.MachineName) h = (h ^ c) * 16777619;
        return (int)(h & 0xffffff); // exact in the double it travels in
    }

    private static bool ProcessAlive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            char state = close >= 0 && close + 2 < stat.Length ? stat[close + 2] : 'R';
            return state is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return true; }
    }

    // mpirun sends SIGTERM to the surviving ranks when one died; rank 0 says which before it goes.
    private void OnTerminate(PosixSignalContext context)
    {
        context.Cancel = true;
        FinetuneLog.Flush();
        if (Rank == 0)
        {
            string who = MissingRanks();
            FinetuneLog.Write($"error: rank 0: the job was stopped during the {current} (collective #{sequence}): {who}.");
        }
        FinetuneLog.Flush();
        MpiNative.ExitNow(1);
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        termHandler?.Dispose();
        if (pingRequest != 0)
        {
            nint request = pingRequest;
            mpi.Cancel(&request);
            mpi.RequestFree(&request);
        }
        mpi.FinalizeMpi();
    }
}
