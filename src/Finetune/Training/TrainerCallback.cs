namespace Finetune.Training;

/// <summary>
/// Hooks the Trainer calls at the points transformers' TrainerCallback defines. Override the ones needed; set
/// flags on <see cref="TrainerControl"/> to steer the loop (stop, evaluate, save, log).
/// </summary>
public abstract class TrainerCallback
{
    public virtual void OnInitEnd(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnTrainBegin(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnTrainEnd(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnEpochBegin(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnEpochEnd(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnStepBegin(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnSubstepEnd(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnStepEnd(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnEvaluate(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics) { }
    public virtual void OnPredict(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics) { }
    public virtual void OnSave(TrainingArguments args, TrainerState state, TrainerControl control) { }
    public virtual void OnLog(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> logs) { }
    public virtual void OnPredictionStep(TrainingArguments args, TrainerState state, TrainerControl control) { }
}

/// <summary>
/// Calls every callback in order and resets the control flags exactly where transformers' CallbackHandler does
/// (step begin clears log/evaluate/save; log, evaluate and save clear their own flag).
/// </summary>
public sealed class CallbackHandler
{
    public List<TrainerCallback> Callbacks { get; } = new();

    public void OnInitEnd(TrainingArguments a, TrainerState s, TrainerControl c) { foreach (var cb in Callbacks) cb.OnInitEnd(a, s, c); }

    public void OnTrainBegin(TrainingArguments a, TrainerState s, TrainerControl c)
    {
        c.ShouldTrainingStop = false;
        foreach (var cb in Callbacks) cb.OnTrainBegin(a, s, c);
    }

    public void OnTrainEnd(TrainingArguments a, TrainerState s, TrainerControl c) { foreach (var cb in Callbacks) cb.OnTrainEnd(a, s, c); }

    public void OnEpochBegin(TrainingArguments a, TrainerState s, TrainerControl c)
    {
        c.ShouldEpochStop = false;
        foreach (var cb in Callbacks) cb.OnEpochBegin(a, s, c);
    }

    public void OnEpochEnd(TrainingArguments a, TrainerState s, TrainerControl c) { foreach (var cb in Callbacks) cb.OnEpochEnd(a, s, c); }

    public void OnStepBegin(TrainingArguments a, TrainerState s, TrainerControl c)
    {
        c.ShouldLog = false;
        c.ShouldEvaluate = false;
        c.ShouldSave = false;
        foreach (var cb in Callbacks) cb.OnStepBegin(a, s, c);
    }

    public void OnSubstepEnd(TrainingArguments a, TrainerState s, TrainerControl c) { foreach (var cb in Callbacks) cb.OnSubstepEnd(a, s, c); }

    public void OnStepEnd(TrainingArguments a, TrainerState s, TrainerControl c) { foreach (var cb in Callbacks) cb.OnStepEnd(a, s, c); }

    public void OnEvaluate(TrainingArguments a, TrainerState s, TrainerControl c, IReadOnlyDictionary<string, double> m)
    {
        c.ShouldEvaluate = false;
        foreach (var cb in Callbacks) cb.OnEvaluate(a, s, c, m);
    }

    public void OnPredict(TrainingArguments a, TrainerState s, TrainerControl c, IReadOnlyDictionary<string, double> m) { foreach (var cb in Callbacks) cb.OnPredict(a, s, c, m); }

    public void OnSave(TrainingArguments a, TrainerState s, TrainerControl c)
    {
        c.ShouldSave = false;
        foreach (var cb in Callbacks) cb.OnSave(a, s, c);
    }

    public void OnLog(TrainingArguments a, TrainerState s, TrainerControl c, IReadOnlyDictionary<string, double> logs)
    {
        c.ShouldLog = false;
        foreach (var cb in Callbacks) cb.OnLog(a, s, c, logs);
    }
}

/// <summary>transformers' DefaultFlowCallback: turns the logging/evaluation/save strategies into control flags.</summary>
public sealed class DefaultFlowCallback : TrainerCallback
{
    public override void OnStepEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (state.GlobalStep == 1 && args.LoggingFirstStep) control.ShouldLog = true;
        if (args.LoggingStrategy == IntervalStrategy.Steps && state.GlobalStep % state.LoggingSteps == 0) control.ShouldLog = true;
        if (args.EvalStrategy == IntervalStrategy.Steps && state.GlobalStep % state.EvalSteps == 0 && args.EvalDelay <= state.GlobalStep)
            control.ShouldEvaluate = true;
        if (args.SaveStrategy == IntervalStrategy.Steps && state.SaveSteps > 0 && state.GlobalStep % state.SaveSteps == 0)
            control.ShouldSave = true;
        if (state.GlobalStep >= state.MaxSteps) control.ShouldTrainingStop = true;
    }

    public override void OnEpochEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (args.LoggingStrategy == IntervalStrategy.Epoch) control.ShouldLog = true;
        if (args.EvalStrategy == IntervalStrategy.Epoch && args.EvalDelay <= (state.Epoch ?? 0)) control.ShouldEvaluate = true;
        if (args.SaveStrategy == IntervalStrategy.Epoch) control.ShouldSave = true;
    }
}

/// <summary>
/// transformers' EarlyStoppingCallback: stops when the metric for the best model has not improved by more than
/// the threshold for <c>patience</c> evaluations. Needs LoadBestModelAtEnd, MetricForBestModel and an eval strategy.
/// </summary>
public sealed class EarlyStoppingCallback : TrainerCallback
{
    public EarlyStoppingCallback(int earlyStoppingPatience = 1, double earlyStoppingThreshold = 0.0)
    {
        Patience = earlyStoppingPatience;
        Threshold = earlyStoppingThreshold;
    }

    public int Patience { get; }
    public double Threshold { get; }
    public int PatienceCounter { get; private set; }

    public override void OnTrainBegin(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (!args.LoadBestModelAtEnd || args.MetricForBestModel == null || args.EvalStrategy == IntervalStrategy.No)
            throw FinetuneException.Invalid("Early stopping needs load_best_model_at_end, metric_for_best_model and an eval_strategy other than 'no'.");
    }

    public override void OnEvaluate(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics)
    {
        string key = args.MetricForBestModel!;
        if (!key.StartsWith("eval_", StringComparison.Ordinal)) key = "eval_" + key;
        if (!metrics.TryGetValue(key, out double value)) return;
        bool improved = state.BestMetric is not double best
            || ((args.EffectiveGreaterIsBetter ? value > best : value < best) && Math.Abs(value - best) > Threshold);
        PatienceCounter = improved ? 0 : PatienceCounter + 1;
        if (PatienceCounter >= Patience) control.ShouldTrainingStop = true;
    }
}
