namespace Finetune.Training;

/// <summary>The learning-rate schedules of <c>transformers.get_scheduler</c> (transformers' SchedulerType names).</summary>
public enum SchedulerType
{
    Linear,
    Cosine,
    CosineWithRestarts,
    Polynomial,
    Constant,
    ConstantWithWarmup,
}

/// <summary>
/// A learning-rate schedule the Trainer can follow: the rate of the optimizer step taken after <c>step</c> completed
/// steps (step 0 is the first). Give one to <see cref="Trainer.LrSchedule"/> to replace lr_scheduler_type, e.g. a
/// Keras-style <see cref="PolynomialDecay"/>.
/// </summary>
public interface ILearningRateSchedule
{
    double LrAt(int step);
}

/// <summary>
/// A LambdaLR-style schedule: after <c>k</c> calls to <see cref="Step"/> the learning rate is
/// <c>baseLr * lambda(k)</c>, exactly as torch's LambdaLR with transformers' lambdas computes it in float64.
/// With warmup, the first optimizer step uses lr 0.
/// </summary>
public sealed class LrScheduler : ILearningRateSchedule
{
    private readonly Func<int, double> lr;

    private LrScheduler(SchedulerType type, double baseLr, Func<int, double> lambda)
    {
        Type = type;
        Name = TypeName(type);
        BaseLr = baseLr;
        lr = step => baseLr * lambda(step);
    }

    private LrScheduler(ILearningRateSchedule schedule)
    {
        Name = schedule.GetType().Name;
        lr = schedule.LrAt;
        BaseLr = schedule.LrAt(0);
    }

    /// <summary>The transformers schedule this is, or null for a schedule object given to the Trainer.</summary>
    public SchedulerType? Type { get; }

    /// <summary>transformers' name of the schedule ("linear", ...), or the class name of a schedule object.</summary>
    public string Name { get; }

    public double BaseLr { get; }

    /// <summary>Number of Step() calls so far (torch's last_epoch).</summary>
    public int StepCount { get; set; }

    /// <summary>The learning rate the next optimizer step uses (torch's get_last_lr()[0]).</summary>
    public double LastLr => LrAt(StepCount);

    public double LrAt(int step) => lr(step);

    /// <summary>Follows any schedule object, stepping as the built-in ones do.</summary>
    public static LrScheduler From(ILearningRateSchedule schedule) => schedule as LrScheduler ?? new LrScheduler(schedule);

    /// <summary>
    /// The schedule TrainingArguments ask for: lr_scheduler_type with lr_scheduler_kwargs (num_cycles for the
    /// cosine schedules, lr_end and power for polynomial), as transformers' get_scheduler passes them on.
    /// </summary>
    public static LrScheduler FromArguments(TrainingArguments args, int numTrainingSteps)
    {
        var kw = args.LrSchedulerKwargs;
        double? Kw(string key) => kw.TryGetValue(key, out double v) ? v : null;
        return Get(args.LrSchedulerType, args.LearningRate, args.GetWarmupSteps(numTrainingSteps), numTrainingSteps,
            Kw("num_cycles"), Kw("lr_end") ?? 1e-7, Kw("power") ?? 1.0);
    }

    /// <summary>The keys get_scheduler passes on for each schedule (anything else is an error there too).</summary>
    public static IReadOnlyList<string> KwargsOf(SchedulerType type) => type switch
    {
        SchedulerType.Cosine or SchedulerType.CosineWithRestarts => ["num_cycles"],
        SchedulerType.Polynomial => ["lr_end", "power"],
        _ => [],
    };

    /// <summary>The optimizer whose learning rate this schedule drives (set by the overload taking one).</summary>
    public Optimizer? Optimizer { get; private set; }

    /// <summary>Advances one step; an attached optimizer gets the new learning rate, as torch's LambdaLR sets it.</summary>
    public void Step()
    {
        StepCount++;
        Optimizer?.SetLr(LastLr);
    }

    /// <summary>
    /// transformers.get_scheduler(name, optimizer, num_warmup_steps, num_training_steps): the base rate is the
    /// optimizer's current rate, which is set to the schedule's step-0 value now and updated on every Step().
    /// </summary>
    public static LrScheduler Get(SchedulerType type, Optimizer optimizer, int numWarmupSteps, int numTrainingSteps,
        double? numCycles = null, double lrEnd = 1e-7, double power = 1.0)
    {
        double baseLr = optimizer.ParamGroups.Count > 0 ? optimizer.ParamGroups[0].Lr : 0;
        var s = Get(type, baseLr, numWarmupSteps, numTrainingSteps, numCycles, lrEnd, power);
        s.Optimizer = optimizer;
        optimizer.SetLr(s.LastLr);
        return s;
    }

    /// <summary>Parses transformers' scheduler names ("linear", "cosine_with_restarts", ...).</summary>
    public static SchedulerType ParseType(string name) => name.Trim().ToLowerInvariant() switch
    {
        "linear" => SchedulerType.Linear,
        "cosine" => SchedulerType.Cosine,
        "cosine_with_restarts" => SchedulerType.CosineWithRestarts,
        "polynomial" => SchedulerType.Polynomial,
        "constant" => SchedulerType.Constant,
        "constant_with_warmup" => SchedulerType.ConstantWithWarmup,
        _ => throw FinetuneException.Invalid($"Unknown lr_scheduler_type '{name}'; expected linear, cosine, cosine_with_restarts, polynomial, constant or constant_with_warmup."),
    };

    public static string TypeName(SchedulerType type) => type switch
    {
        SchedulerType.Linear => "linear",
        SchedulerType.Cosine => "cosine",
        SchedulerType.CosineWithRestarts => "cosine_with_restarts",
        SchedulerType.Polynomial => "polynomial",
        SchedulerType.Constant => "constant",
        _ => "constant_with_warmup",
    };

    /// <summary>
    /// transformers.get_scheduler(name, optimizer, num_warmup_steps, num_training_steps). Optional knobs take
    /// transformers' defaults: cosine num_cycles 0.5, cosine_with_restarts num_cycles 1, polynomial lr_end 1e-7 and power 1.
    /// </summary>
    public static LrScheduler Get(SchedulerType type, double baseLr, int numWarmupSteps, int numTrainingSteps,
        double? numCycles = null, double lrEnd = 1e-7, double power = 1.0)
    {
        return type switch
        {
            SchedulerType.Constant => new(type, baseLr, _ => 1.0),
            SchedulerType.ConstantWithWarmup => new(type, baseLr, s => s < numWarmupSteps ? s / (double)Math.Max(1, numWarmupSteps) : 1.0),
            SchedulerType.Linear => new(type, baseLr, s => Linear(s, numWarmupSteps, numTrainingSteps)),
            SchedulerType.Cosine => new(type, baseLr, s => Cosine(s, numWarmupSteps, numTrainingSteps, numCycles ?? 0.5)),
            SchedulerType.CosineWithRestarts => new(type, baseLr, s => CosineHardRestarts(s, numWarmupSteps, numTrainingSteps, numCycles ?? 1)),
            SchedulerType.Polynomial => Polynomial(baseLr, numWarmupSteps, numTrainingSteps, lrEnd, power),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    private static double Warmup(int step, int warmup) => step / (double)Math.Max(1, warmup);

    private static double Linear(int step, int warmup, int total)
    {
        if (step < warmup) return Warmup(step, warmup);
        return Math.Max(0.0, (double)(total - step) / Math.Max(1, total - warmup));
    }

    private static double Cosine(int step, int warmup, int total, double cycles)
    {
        if (step < warmup) return Warmup(step, warmup);
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * cycles * 2.0 * progress)));
    }

    private static double CosineHardRestarts(int step, int warmup, int total, double cycles)
    {
        if (step < warmup) return Warmup(step, warmup);
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        if (progress >= 1.0) return 0.0;
        return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * ((cycles * progress) % 1.0))));
    }

    private static LrScheduler Polynomial(double lrInit, int warmup, int total, double lrEnd, double power)
    {
        if (!(lrInit > lrEnd))
            throw FinetuneException.Invalid($"The polynomial schedule needs lr_end ({lrEnd}) below the initial learning rate ({lrInit}).");
        if (total == warmup)
            throw FinetuneException.Invalid("The polynomial schedule needs more training steps than warmup steps.");
        return new(SchedulerType.Polynomial, lrInit, step =>
        {
            if (step < warmup) return Warmup(step, warmup);
            if (step > total) return lrEnd / lrInit;
            double lrRange = lrInit - lrEnd;
            int decaySteps = total - warmup;
            double pctRemaining = 1 - (double)(step - warmup) / decaySteps;
            double decay = lrRange * Math.Pow(pctRemaining, power) + lrEnd;
            return decay / lrInit;
        });
    }
}

/// <summary>
/// Keras' <c>tf.keras.optimizers.schedules.PolynomialDecay</c>: from the initial rate to the end rate over
/// decaySteps with the given power, then constant (or, with cycle, restarting over multiples of decaySteps).
/// </summary>
public sealed class PolynomialDecay : ILearningRateSchedule
{
    public PolynomialDecay(double initialLearningRate, int decaySteps, double endLearningRate = 0.0001, double power = 1.0, bool cycle = false)
    {
        if (decaySteps <= 0) throw FinetuneException.Invalid($"PolynomialDecay needs decay_steps > 0 but got {decaySteps}.");
        InitialLearningRate = initialLearningRate;
        DecaySteps = decaySteps;
        EndLearningRate = endLearningRate;
        Power = power;
        Cycle = cycle;
    }

    public double InitialLearningRate { get; }
    public int DecaySteps { get; }
    public double EndLearningRate { get; }
    public double Power { get; }
    public bool Cycle { get; }

    double ILearningRateSchedule.LrAt(int step) => LrAt((long)step);

    /// <summary>The learning rate at a given optimizer step (Keras calls the schedule with the step count).</summary>
    public double LrAt(long step)
    {
        double globalStep = step;
        double decaySteps = DecaySteps;
        if (Cycle)
        {
            double multiplier = globalStep == 0 ? 1.0 : Math.Ceiling(globalStep / decaySteps);
            decaySteps *= multiplier;
        }
        else globalStep = Math.Min(globalStep, decaySteps);
        double p = globalStep / decaySteps;
        return (InitialLearningRate - EndLearningRate) * Math.Pow(1 - p, Power) + EndLearningRate;
    }
}
