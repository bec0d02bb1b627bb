namespace Finetune.Training;

/// <summary>
/// The Trainer's progress bar over optimizer steps (a <see cref="ProgressBar"/>): rate, ETA, the last logged loss
/// and learning rate; redrawn in place on a terminal, one line per tenth of the run when output is redirected.
/// </summary>
public sealed class ProgressCallback(TextWriter? output = null) : TrainerCallback
{
    private readonly ProgressBar bar = new(0, output);

    public override void OnTrainBegin(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        bar.Total = state.MaxSteps;
        bar.Restart(state.GlobalStep);
    }

    public override void OnStepEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (!args.DisableTqdm) bar.Update(state.GlobalStep);
    }

    public override void OnLog(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> logs)
    {
        if (logs.TryGetValue("loss", out double loss)) bar.Loss = loss;
        if (logs.TryGetValue("learning_rate", out double lr)) bar.LearningRate = lr;
    }

    public override void OnEvaluate(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics) => bar.EndLine();

    public override void OnTrainEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (!args.DisableTqdm) bar.EndLine();
    }

    /// <summary>The status line as it is drawn now.</summary>
    public string StatusLine() => bar.StatusLine();
}
