using System.Globalization;
using Finetune.Tensors;

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
        else Parallelism.Threads = ThreadsPerRank(Environment.ProcessorCount, comm.LocalSize);
        return comm;
    }

    /// <summary>Cores shared evenly between the ranks of one machine, at least one each.</summary>
    public static int ThreadsPerRank(int cores, int localRanks) => Math.Max(1, cores / Math.Max(1, localRanks));

    internal static int? EnvInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
}
