using Finetune.Training.Distributed;

namespace Finetune.Training;

// The Trainer's data-parallel hooks, kept apart from the training loop: with a Communicator set, each rank
// trains on its DistributedSampler shard with per_device_train_batch_size rows per micro-batch, gradients are
// averaged over ranks before clipping, evaluation batches are spread over ranks and gathered, and only rank 0
// writes checkpoints.
public sealed partial class Trainer
{
    private GradientAllReduce? gradientSync;

    /// <summary>
    /// The ranks this Trainer trains with (null: one process, nothing changes). Every rank builds the same model
    /// from the same seed and calls Train with the same arguments and dataset.
    /// </summary>
    public ICommunicator? Communicator { get; set; }

    /// <summary>Number of ranks (1 without a communicator).</summary>
    public int WorldSize => Communicator?.Size ?? 1;

    private bool IsWorldProcessZero => Communicator is null || Communicator.Rank == 0;

    private void BeginDistributedTraining()
    {
        State.IsWorldProcessZero = IsWorldProcessZero;
        State.IsLocalProcessZero = IsWorldProcessZero || Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK") == "0";
        gradientSync?.Dispose();
        gradientSync = Communicator is null ? null : new GradientAllReduce(Communicator, model.Module.Parameters());
    }

    private void EndDistributedTraining()
    {
        gradientSync?.Dispose();
        gradientSync = null;
    }

    /// <summary>Before the backward pass that completes a step: buckets of gradients are averaged as backward finishes them.</summary>
    private void BeginGradientSync() => gradientSync?.Begin();

    /// <summary>Waits for the averaged gradients; the step's loss becomes the mean over ranks (trLoss follows it).</summary>
    private float SyncGradients(float stepLoss)
    {
        if (gradientSync is null) return stepLoss;
        float mean = gradientSync.Finish(stepLoss);
        trLoss += mean - stepLoss;
        return mean;
    }

    private void SaveCheckpointOnRankZero(Dictionary<string, double>? metrics)
    {
        if (IsWorldProcessZero) SaveCheckpoint(metrics);
        // The other ranks wait, so that a resumed or best-model load never reads a checkpoint still being written.
        Communicator?.Barrier();
    }

    /// <summary>After loading the best checkpoint (known to rank 0), every rank takes rank 0's weights.</summary>
    private void BroadcastWeightsFromRankZero()
    {
        if (Communicator is null) return;
        foreach (var p in model.Module.Parameters())
        {
            var data = p.Span.ToArray();
            Communicator.Broadcast(data, 0, data.Length, 0);
            data.CopyTo(p.Span);
        }
    }

    /// <summary>Whether this rank evaluates batch number <paramref name="batch"/> (batches dealt round-robin).</summary>
    private bool OwnsEvalBatch(int batch) => Communicator is null || batch % WorldSize == Communicator.Rank;

    /// <summary>Sums each rank's share (zeros elsewhere) so that every rank holds all logits and per-row losses.</summary>
    private void GatherEvaluation(float[] logits, float[] rowLosses)
    {
        if (Communicator is null) return;
        Communicator.AllReduceSum(logits, 0, logits.Length);
        Communicator.AllReduceSum(rowLosses, 0, rowLosses.Length);
    }
}
