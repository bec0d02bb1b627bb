namespace Finetune.Training.Distributed;

/// <summary>
/// The collectives data-parallel training needs, over all ranks of one job. Every rank calls each collective in
/// the same order with buffers of the same length (as MPI requires); a call that does not complete within the
/// communicator's timeout ends the job with a message naming the ranks that did not arrive.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's rank in [0, Size).</summary>
    int Rank { get; }

    /// <summary>Number of ranks in the job.</summary>
    int Size { get; }

    /// <summary>Number of ranks on this machine (to share its cores between them).</summary>
    int LocalSize { get; }

    /// <summary>Element-wise sum over all ranks, in place; every rank receives the result.</summary>
    void AllReduceSum(float[] buffer, int offset, int count);

    /// <summary>Element-wise sum over all ranks, in place; every rank receives the result.</summary>
    void AllReduceSum(double[] buffer);

    /// <summary>Copies root's values into every rank's buffer.</summary>
    void Broadcast(float[] buffer, int offset, int count, int root);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    /// <summary>Ends every rank of the job with this exit code (after a failure on this rank).</summary>
    void Abort(int exitCode);
}
