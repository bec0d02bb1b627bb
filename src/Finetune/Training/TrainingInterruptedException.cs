namespace Finetune.Training;

/// <summary>
/// Training stopped on request (Ctrl-C, SIGTERM, a cancelled token) between two micro-batches: where it stood and
/// the checkpoint a resume would start from.
/// </summary>
public sealed class TrainingInterruptedException(int globalStep, string? lastCheckpoint, CancellationToken token)
    : OperationCanceledException(Describe(globalStep, lastCheckpoint), token)
{
    public int GlobalStep { get; } = globalStep;

    /// <summary>The last complete checkpoint folder (what --resume-from-checkpoint last loads), or null when none was saved.</summary>
    public string? LastCheckpoint { get; } = lastCheckpoint;

    private static string Describe(int step, string? checkpoint) => checkpoint != null
        ? $"interrupted at step {step}; last complete checkpoint: {Path.GetFileName(checkpoint)}; resume with --resume-from-checkpoint last"
        : $"interrupted at step {step}; no checkpoint saved yet, so a new run starts from the beginning";
}
