using System.Runtime.InteropServices;

namespace Finetune.Training.Distributed;

/// <summary>
/// A thin binding to Open MPI's C library (libmpi.so.40), loaded only when distributed training is requested.
/// Chosen over the MPI.NET package because that package's native side targets Microsoft MPI on Windows, while
/// these dozen calls are all the trainer needs, and non-blocking collectives (Iallreduce) polled with MPI_Test
/// are what give a timeout on every collective. Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT,
/// MPI_SUM, MPI_ERRORS_RETURN) are the addresses of exported globals, which makes this binding Open MPI's ABI
/// (MPICH's handles are integers).
/// </summary>
internal sealed unsafe class MpiNative
{
    public const int ThreadSerialized = 2;

    public readonly nint CommWorld, Float, Double, Int, OpSum, ErrorsReturn;
    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public readonly delegate* unmanaged<nint, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public readonly delegate* unmanaged<void*, int, nint, int, nint, nint*, int> Ibcast;
    public readonly delegate* unmanaged<nint, nint*, int> Ibarrier;
    public readonly delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int> Isend, Irecv;
    public readonly delegate* unmanaged<nint*, int*, void*, int> Test;
    public readonly delegate* unmanaged<nint*, int> Cancel, RequestFree;
    public readonly delegate* unmanaged<nint, int, int> AbortJob;
    public readonly delegate* unmanaged<int> FinalizeMpi;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;

    private MpiNative(nint lib)
    {
        nint Sym(string name) => NativeLibrary.GetExport(lib, name);
        CommWorld = Sym("ompi_mpi_comm_world");
        Float = Sym("ompi_mpi_float");
        Double = Sym("ompi_mpi_double");
        Int = Sym("ompi_mpi_int");
        OpSum = Sym("ompi_mpi_op_sum");
        ErrorsReturn = Sym("ompi_mpi_errors_return");
        Initialized = (delegate* unmanaged<int*, int>)Sym("MPI_Initialized");
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Sym("MPI_Init_thread");
        CommRank = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Sym("MPI_Comm_set_errhandler");
        Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)Sym("MPI_Iallreduce");
        Ibcast = (delegate* unmanaged<void*, int, nint, int, nint, nint*, int>)Sym("MPI_Ibcast");
        Ibarrier = (delegate* unmanaged<nint, nint*, int>)Sym("MPI_Ibarrier");
        Isend = (delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int>)Sym("MPI_Isend");
        Irecv = (delegate* unmanaged<void*, int, nint, int, int, nint, nint*, int>)Sym("MPI_Irecv");
        Test = (delegate* unmanaged<nint*, int*, void*, int>)Sym("MPI_Test");
        Cancel = (delegate* unmanaged<nint*, int>)Sym("MPI_Cancel");
        RequestFree = (delegate* unmanaged<nint*, int>)Sym("MPI_Request_free");
        AbortJob = (delegate* unmanaged<nint, int, int>)Sym("MPI_Abort");
        FinalizeMpi = (delegate* unmanaged<int>)Sym("MPI_Finalize");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Sym("MPI_Error_string");
    }

    /// <summary>MPI_IN_PLACE in Open MPI.</summary>
    public static void* InPlace => (void*)1;

    /// <summary>Loads libmpi (RTLD_GLOBAL, as Open MPI's plugins resolve symbols against it), or throws Unsupported.</summary>
    public static MpiNative Load() =>
        Load([Environment.GetEnvironmentVariable("FINETUNE_LIBMPI") ?? "", "libmpi.so.40", "libmpi.so", "/usr/lib/x86_64-linux-gnu/libmpi.so.40"]);

    internal static MpiNative Load(IEnumerable<string> candidates)
    {
        foreach (string name in candidates)
        {
            if (name.Length == 0) continue;
            nint handle = OperatingSystem.IsLinux() ? DlOpenGlobal(name) : 0;
            if (handle == 0 && !NativeLibrary.TryLoad(name, out handle)) continue;
            try { return new MpiNative(handle); }
            catch (EntryPointNotFoundException e)
            {
                throw new FinetuneException(ErrorKind.Unsupported, $"'{name}' is not Open MPI's libmpi ({e.Message}); distributed training needs Open MPI 4 or later.", e);
            }
        }
        throw new FinetuneException(ErrorKind.Unsupported,
            "Distributed training over MPI was requested but no libmpi was found: install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev) or set FINETUNE_LIBMPI to libmpi.so's path.");
    }

    public string Describe(int code)
    {
        var text = stackalloc byte[256];
        int len = 0;
        return ErrorString(code, text, &len) == 0 ? $"{Marshal.PtrToStringAnsi((nint)text, len)} (MPI error {code})" : $"MPI error {code}";
    }

    private const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    private static nint DlOpenGlobal(string name)
    {
        try { return DlOpen(name, RtldNow | RtldGlobal); }
        catch (DllNotFoundException) { return 0; }
        catch (EntryPointNotFoundException) { return 0; }
    }

    [DllImport("libc", EntryPoint = "_exit")]
    public static extern void ExitNow(int code);
}
