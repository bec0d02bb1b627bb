namespace Finetune.Training;

/// <summary>
/// Reports the Trainer's optimizer steps to an <see cref="IProgressReporter"/>: count, rate, ETA, the last logged
/// loss and learning rate; pauses the reporter before each evaluation and at the end of training.
/// </summary>
public sealed class ProgressCallback(IProgressReporter reporter) : TrainerCallback
{
    private readonly ProgressTracker tracker = new(reporter);

    public override void OnTrainBegin(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        tracker.Total = state.MaxSteps;
        tracker.Restart(state.GlobalStep);
    }

    public override void OnStepEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (!args.DisableTqdm) tracker.Update(state.GlobalStep);
    }

    public override void OnLog(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> logs)
    {
        if (logs.TryGetValue("loss", out double loss)) tracker.Loss = loss;
        if (logs.TryGetValue("learning_rate", out double lr)) tracker.LearningRate = lr;
    }

    public override void OnEvaluate(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics) => tracker.Pause();

    public override void OnTrainEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (!args.DisableTqdm) tracker.Pause();
    }

    /// <summary>The progress as it is now.</summary>
    public ProgressUpdate Current() => tracker.Current();
}
