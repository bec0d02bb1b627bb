using System.Diagnostics;

namespace Finetune.Training;

/// <summary>
/// Counts the units of a piece of work against its total and the clock, and reports each change to an
/// <see cref="IProgressReporter"/>: the console-free part of a progress bar, for the Trainer or any loop.
/// </summary>
public sealed class ProgressTracker(IProgressReporter reporter, int total = 0, string unit = "it")
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private int start;

    /// <summary>The count at which the work is done (steps, batches, rows).</summary>
    public int Total { get; set; } = total;

    /// <summary>The count reached so far.</summary>
    public int Count { get; private set; }

    /// <summary>The last loss and learning rate reported (null: none).</summary>
    public double? Loss { get; set; }

    public double? LearningRate { get; set; }

    /// <summary>Restarts the clock at <paramref name="count"/> (a resumed run's rate counts only what it ran).</summary>
    public void Restart(int count = 0)
    {
        Count = start = count;
        clock.Restart();
    }

    /// <summary>One more unit done.</summary>
    public void Tick(double? loss = null, double? learningRate = null) => Update(Count + 1, loss, learningRate);

    /// <summary>Sets the count (and the loss / learning rate, when given) and reports it.</summary>
    public void Update(int count, double? loss = null, double? learningRate = null)
    {
        Count = count;
        if (loss != null) Loss = loss;
        if (learningRate != null) LearningRate = learningRate;
        reporter.Report(Current());
    }

    /// <summary>Tells the reporter that other output follows.</summary>
    public void Pause() => reporter.Pause();

    /// <summary>The state as it is now.</summary>
    public ProgressUpdate Current() => new(Count, Total, start, clock.Elapsed, unit, Loss, LearningRate);
}
