namespace Finetune.Training;

/// <summary>
/// How far a piece of long work has got: the count and its total, the clock, the rate since the count it started
/// from (a resumed run counts only what it ran), the estimated time left, and the last loss and learning rate.
/// </summary>
public readonly record struct ProgressUpdate(int Count, int Total, int Start, TimeSpan Elapsed, string Unit, double? Loss = null, double? LearningRate = null)
{
    /// <summary>Units done per second since <see cref="Start"/> (0 before the clock has run).</summary>
    public double Rate => Elapsed.TotalSeconds > 0 ? (Math.Clamp(Count, 0, Math.Max(1, Total)) - Start) / Elapsed.TotalSeconds : 0;

    /// <summary>The time left at the current rate, or null while there is no rate yet.</summary>
    public TimeSpan? Eta => Rate > 0 ? TimeSpan.FromSeconds((Math.Max(1, Total) - Math.Clamp(Count, 0, Math.Max(1, Total))) / Rate) : null;

    public bool IsDone => Count >= Total;
}

/// <summary>
/// Receives the progress of long work (the Trainer's optimizer steps through <see cref="ProgressCallback"/>, a
/// hand-written loop through <see cref="ProgressTracker"/>). The library never draws: an application renders the
/// updates (the CLI and Finetune.Terminal's ProgressBar with Spectre.Console, a GUI, a log).
/// </summary>
public interface IProgressReporter
{
    /// <summary>One more update; a renderer decides how often it redraws.</summary>
    void Report(in ProgressUpdate update);

    /// <summary>Other output follows (an evaluation's row, the end of the work): a renderer that redraws a line in place ends it.</summary>
    void Pause();
}
