using System.Globalization;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Training.Distributed;

/// <summary>How a run is spread over processes: `none` (one process), `mpi`, or `auto` (MPI when mpirun started more than one rank).</summary>
public enum DistributedMode
{
    Auto,
    None,
    Mpi,
}

/// <summary>
/// Launch discovery from the variables Open MPI's mpirun sets (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_SIZE). MPI is
/// loaded only when requested or when mpirun started several ranks; a single process never touches it.
/// </summary>
public static class DistributedLaunch
{
    public static DistributedMode ParseMode(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" or "auto" => DistributedMode.Auto,
        "none" or "no" => DistributedMode.None,
        "mpi" => DistributedMode.Mpi,
        _ => throw FinetuneException.Invalid($"--distributed '{text}' is not one of auto, none, mpi."),
    };

    /// <summary>World size mpirun announced for this process (null outside mpirun).</summary>
    public static int? LaunchedWorldSize => EnvInt("OMPI_COMM_WORLD_SIZE");

    /// <summary>
    /// The communicator for this process, or null for a single-process run. With Mpi or with Auto under mpirun
    /// (size &gt; 1), initializes MPI and sets the engine's threads to cores / ranks on this machine unless
    /// FINETUNE_THREADS or an explicit thread count says otherwise.
    /// </summary>
    public static ICommunicator? Start(DistributedMode mode, int? threadsPerRank = null)
    {
        if (mode == DistributedMode.None) return null;
        if (mode == DistributedMode.Auto && (LaunchedWorldSize ?? 1) <= 1) return null;
        var comm = MpiCommunicator.Init();
        if (threadsPerRank is int t && t > 0) Parallelism.Threads = t;
        else if (EnvInt("FINETUNE_THREADS") is int e && e > 0) Parallelism.Threads = e;
        else
        {
            int allowed = AllowedCpus() ?? Environment.ProcessorCount, online = OnlineCpus() ?? allowed;
            bool bound = allowed < online;
            Parallelism.Threads = ThreadsPerRank(Math.Min(Environment.ProcessorCount, allowed), comm.LocalSize, bound);
            if (bound && allowed < ThreadsPerRank(online, comm.LocalSize) && comm.Rank == 0)
                FinetuneLog.Write($"note: mpirun bound each rank to {allowed} of this machine's {online} cores; pass --bind-to none to let each rank use its share of them all.");
        }
        return comm;
    }

    /// <summary>
    /// Cores shared evenly between the ranks of one machine, at least one each; when the launcher bound this rank to
    /// a subset of the machine's cores (<paramref name="bound"/>), that subset already is its share.
    /// </summary>
    public static int ThreadsPerRank(int cores, int localRanks, bool bound = false) =>
        bound ? Math.Max(1, cores) : Math.Max(1, cores / Math.Max(1, localRanks));

    /// <summary>CPUs this process may run on (sched_getaffinity), or null where that cannot be read.</summary>
    private static unsafe int? AllowedCpus()
    {
        if (!OperatingSystem.IsLinux()) return null;
        var mask = stackalloc ulong[16]; // 1024 CPUs, glibc's cpu_set_t
        try
        {
            if (SchedGetAffinity(0, 16 * sizeof(ulong), mask) != 0) return null;
        }
        catch (EntryPointNotFoundException) { return null; }
        int count = 0;
        for (int i = 0; i < 16; i++) count += System.Numerics.BitOperations.PopCount(mask[i]);
        return count > 0 ? count : null;
    }

    /// <summary>CPUs the machine has online (/sys/devices/system/cpu/online, as "0-3,8-11"), or null.</summary>
    private static int? OnlineCpus()
    {
        try
        {
            int count = 0;
            foreach (string range in File.ReadAllText("/sys/devices/system/cpu/online").Trim().Split(','))
            {
                string[] ends = range.Split('-');
                int first = int.Parse(ends[0], CultureInfo.InvariantCulture);
                count += (ends.Length == 2 ? int.Parse(ends[1], CultureInfo.InvariantCulture) : first) - first + 1;
            }
            return count > 0 ? count : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sched_getaffinity")]
    private static extern unsafe int SchedGetAffinity(int pid, nint size, ulong* mask);

    internal static int? EnvInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
}
