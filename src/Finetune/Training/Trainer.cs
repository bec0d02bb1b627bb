using System.Diagnostics;
using Finetune.Data;
using Finetune.Metrics;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Training;

/// <summary>Logits [N * NumLabels] (row-major) with the label ids or float targets they are scored against.</summary>
public sealed record EvalPrediction(float[] Predictions, int NumLabels, int[]? LabelIds, float[]? FloatLabels)
{
    /// <summary>argmax per row (first maximum on ties, as numpy).</summary>
    public int[] ArgMax()
    {
        int n = Predictions.Length / NumLabels;
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int j = 1; j < NumLabels; j++)
                if (Predictions[i * NumLabels + j] > Predictions[i * NumLabels + best]) best = j;
            r[i] = best;
        }
        return r;
    }
}

public sealed record TrainOutput(int GlobalStep, double TrainingLoss, IReadOnlyDictionary<string, double> Metrics);

public sealed record PredictionOutput(float[] Predictions, int NumLabels, int[]? LabelIds, IReadOnlyDictionary<string, double> Metrics);

/// <summary>One optimizer step as it happened (for tests and tooling): lr used, grad norm before clipping, loss.</summary>
public readonly record struct StepRecord(int Step, double LrUsed, float GradNorm, float Loss);

/// <summary>
/// transformers' Trainer for sequence classification: the training loop of transformers 4.35 (gradient
/// accumulation over micro-batches counted across epochs, clipping, AdamW with the Trainer's groups, the
/// scheduler, logging/evaluation/saving strategies, callbacks, checkpoints and resuming), Evaluate and Predict.
/// </summary>
public sealed partial class Trainer
{
    private readonly ISequenceClassifier model;
    private readonly DataCollatorWithPadding collator;
    private Optimizer? optimizer;
    private LrScheduler? scheduler;
    private float trLoss;
    private double totalLossScalar;
    private int globalStepLastLogged;

    /// <summary>
    /// <paramref name="trainDataset"/> and <paramref name="evalDataset"/> are tokenized datasets: input_ids, optional
    /// token_type_ids / attention_mask, and a label column `label`, `labels` or `label_ids` (class ids; floats for
    /// regression, lists for multi-label), as <see cref="DataCollatorWithPadding"/> reads them.
    /// </summary>
    public Trainer(ISequenceClassifier model, TrainingArguments args, Dataset? trainDataset = null,
        Dataset? evalDataset = null, Func<EvalPrediction, Dictionary<string, double>>? computeMetrics = null,
        IEnumerable<TrainerCallback>? callbacks = null, int padTokenId = 0)
    {
        this.model = model;
        Args = args;
        args.Validate();
        TrainDataset = trainDataset;
        EvalDataset = evalDataset;
        ComputeMetrics = computeMetrics;
        collator = new DataCollatorWithPadding(padTokenId);
        Handler.Callbacks.Add(new DefaultFlowCallback());
        if (callbacks != null) Handler.Callbacks.AddRange(callbacks);
        Handler.OnInitEnd(Args, State, Control);
    }

    public TrainingArguments Args { get; }
    public Dataset? TrainDataset { get; }
    public Dataset? EvalDataset { get; }
    public Func<EvalPrediction, Dictionary<string, double>>? ComputeMetrics { get; }
    public TrainerState State { get; private set; } = new();
    public TrainerControl Control { get; } = new();
    public CallbackHandler Handler { get; } = new();
    public ISequenceClassifier Model => model;
    public Optimizer? Optimizer => optimizer;
    public LrScheduler? Scheduler => scheduler;

    /// <summary>A schedule object to follow instead of lr_scheduler_type (e.g. a Keras-style PolynomialDecay).</summary>
    public ILearningRateSchedule? LrSchedule { get; set; }

    /// <summary>Class weights for the single-label cross-entropy (the Trainer then computes the loss itself).</summary>
    public float[]? ClassWeights { get; set; }

    /// <summary>Saves tokenizer files into every checkpoint and saved model folder, when set.</summary>
    public Action<string>? SaveTokenizer { get; set; }

    /// <summary>Raised after every optimizer step.</summary>
    public event Action<StepRecord>? StepCompleted;

    /// <summary>compute_metrics of the seed notebooks: accuracy and macro precision/recall/F1 on the argmax.</summary>
    public static Dictionary<string, double> AccuracyAndMacroF1(EvalPrediction p)
    {
        int[] pred = p.ArgMax();
        int[] labels = p.LabelIds ?? throw FinetuneException.Invalid("Classification metrics need integer labels.");
        var prf = ClassificationMetrics.PrecisionRecallF1(labels, pred, Average.Macro);
        return new()
        {
            ["accuracy"] = ClassificationMetrics.Accuracy(labels, pred),
            ["precision"] = prf.Precision,
            ["recall"] = prf.Recall,
            ["f1"] = prf.F1,
        };
    }

    // ---- training ---------------------------------------------------------------------------------------------

    /// <summary>
    /// transformers' get_train_dataloader and _get_train_sampler: per_device_train_batch_size rows a batch padded by
    /// the collator, a fresh shuffle each epoch (or dataset order), or with group_by_length the LengthGroupedSampler
    /// over megabatches of train_batch_size × gradient_accumulation_steps, lengths from a `length` column when the
    /// dataset has one; seeded by data_seed, else seed; with a Communicator, this rank's DistributedSampler share.
    /// </summary>
    public DataLoader GetTrainDataLoader()
    {
        var train = TrainDataset ?? throw FinetuneException.Invalid("Train() needs a training dataset.");
        var sampler = Args.EffectiveSampling switch
        {
            TrainSamplingStrategy.Sequential => SamplerKind.Sequential,
            TrainSamplingStrategy.GroupByLength => SamplerKind.LengthGrouped,
            _ => SamplerKind.Random,
        };
        int bs = Args.PerDeviceTrainBatchSize;
        // dataloader_num_workers defaults to 0: batches are padded on the training thread, in step.
        return new DataLoader(train, collator, bs, sampler, (ulong)(Args.DataSeed ?? Args.Seed), Args.DataloaderDropLast, prefetch: 0)
        {
            LengthGroupingBatchSize = bs * Args.GradientAccumulationSteps,
            Lengths = sampler == SamplerKind.LengthGrouped && train.ColumnNames.Contains("length") ? train.GetInts("length") : null,
            NumReplicas = WorldSize,
            Rank = Communicator?.Rank ?? 0,
        };
    }

    public TrainOutput Train(string? resumeFromCheckpoint = null)
    {
        var train = TrainDataset ?? throw FinetuneException.Invalid("Train() needs a training dataset.");
        if (train.NumRows == 0) throw FinetuneException.Invalid("The training dataset is empty.");
        var loader = GetTrainDataLoader();
        if (Args.EvalStrategy != IntervalStrategy.No && EvalDataset == null)
            throw FinetuneException.Invalid($"eval_strategy is '{TrainingArguments.Name(Args.EvalStrategy)}' but no evaluation dataset was given.");
        resumeFromCheckpoint ??= Args.ResumeFromCheckpoint;
        ThrowIfInterrupted();
        RemoveInterruptedSaves();
        int ga = Args.GradientAccumulationSteps;
        int lenDataloader = loader.Count;
        if (lenDataloader == 0) throw FinetuneException.Invalid($"The training dataset has {train.NumRows} rows, fewer than one batch of {Args.PerDeviceTrainBatchSize} with dataloader_drop_last.");
        int updatesPerEpoch = Math.Max(lenDataloader / ga, 1);
        int maxSteps, numEpochs;
        double numTrainSamples;
        if (Args.MaxSteps > 0)
        {
            maxSteps = Args.MaxSteps;
            numEpochs = maxSteps / updatesPerEpoch + (maxSteps % updatesPerEpoch > 0 ? 1 : 0);
            numTrainSamples = (double)maxSteps * Args.TotalTrainBatchSize * WorldSize;
        }
        else
        {
            maxSteps = (int)Math.Ceiling(Args.NumTrainEpochs * updatesPerEpoch);
            numEpochs = (int)Math.Ceiling(Args.NumTrainEpochs);
            numTrainSamples = train.NumRows * Args.NumTrainEpochs;
        }

        State = new TrainerState
        {
            MaxSteps = maxSteps,
            NumTrainEpochs = numEpochs,
            TrainBatchSize = Args.PerDeviceTrainBatchSize,
            LoggingSteps = StepsOf(Args.LoggingSteps, maxSteps),
            EvalSteps = StepsOf(Args.EffectiveEvalSteps, maxSteps),
            SaveSteps = StepsOf(Args.SaveSteps, maxSteps),
        };
        optimizer = OptimizerUtils.Create(Args, model.Module);
        scheduler = LrSchedule != null ? LrScheduler.From(LrSchedule) : LrScheduler.FromArguments(Args, maxSteps);

        int epochsTrained = 0, stepsTrainedInEpoch = 0;
        if (resumeFromCheckpoint != null)
        {
            string dir = ResolveCheckpoint(resumeFromCheckpoint);
            LoadCheckpoint(dir);
            epochsTrained = State.GlobalStep / updatesPerEpoch;
            stepsTrainedInEpoch = State.GlobalStep % updatesPerEpoch * ga;
        }
        optimizer.SetLr(scheduler.LastLr);
        BeginDistributedTraining();

        model.Module.ZeroGrad();
        trLoss = 0f;
        // transformers restarts this sum at 0 on resume; the checkpoint keeps it so that train_loss stays the mean of all steps.
        totalLossScalar = resumeFromCheckpoint != null ? resumedTotalLoss : 0.0;
        globalStepLastLogged = State.GlobalStep;
        var clock = Stopwatch.StartNew();
        Handler.OnTrainBegin(Args, State, Control);

        // transformers' total_batched_samples: the batches this call trains, counted across epochs (accumulation
        // windows may span an epoch end), from 0 on resume too, the skipped ones not counted.
        long totalBatched = 0;
        float stepLoss = 0f;
        // A checkpoint at max_steps (the last one of a finished run) trains nothing more; transformers 4.35 stops
        // there when the checkpoint ends an epoch but trains one step past max_steps when it sits inside one.
        int firstEpoch = State.GlobalStep >= maxSteps ? numEpochs : epochsTrained;
        for (int epoch = firstEpoch; epoch < numEpochs; epoch++)
        {
            loader.Epoch = epoch;
            Handler.OnEpochBegin(Args, State, Control);
            // A resumed epoch skips the batches already trained without padding them (accelerate's skip_first_batches).
            int skip = Math.Min(stepsTrainedInEpoch, lenDataloader);
            stepsTrainedInEpoch -= skip;
            int step = skip - 1;
            for (int s = skip; s < lenDataloader; s++)
            {
                step = s;
                ThrowIfInterrupted();
                totalBatched++;
                if (s % ga == 0) Handler.OnStepBegin(Args, State, Control);

                bool lastStepShortEpoch = lenDataloader <= ga && s + 1 == lenDataloader;
                bool completesStep = totalBatched % ga == 0 || lastStepShortEpoch;
                // The backward that completes the step's gradients averages them over ranks as it goes.
                if (completesStep) BeginGradientSync();
                // Dropout is seeded by the batch's place in the whole run, so a resumed run draws the same masks.
                float microLoss = TrainingStep(loader.BatchAt(s), (long)epoch * lenDataloader + s + 1);
                if (Args.LoggingNanInfFilter && !float.IsFinite(microLoss))
                    trLoss += trLoss / (1 + State.GlobalStep - globalStepLastLogged);
                else trLoss += microLoss;
                stepLoss += microLoss;

                if (completesStep)
                {
                    stepLoss = SyncGradients(stepLoss);
                    float norm = Args.MaxGradNorm > 0 ? OptimizerUtils.ClipGradNorm(model.Module.Parameters(), Args.MaxGradNorm) : float.NaN;
                    double lrUsed = scheduler.LastLr;
                    optimizer.Step();
                    scheduler.Step();
                    optimizer.SetLr(scheduler.LastLr);
                    model.Module.ZeroGrad();
                    State.GlobalStep++;
                    State.Epoch = epoch + (double)(s + 1) / lenDataloader;
                    StepCompleted?.Invoke(new StepRecord(State.GlobalStep, lrUsed, norm, stepLoss));
                    stepLoss = 0f;
                    Handler.OnStepEnd(Args, State, Control);
                    MaybeLogSaveEvaluate();
                }
                else Handler.OnSubstepEnd(Args, State, Control);
                if (Control.ShouldEpochStop || Control.ShouldTrainingStop) break;
            }
            if (step < 0) throw FinetuneException.Invalid("The training data loader produced no batch.");
            ThrowIfInterrupted();
            Handler.OnEpochEnd(Args, State, Control);
            MaybeLogSaveEvaluate();
            if (Control.ShouldTrainingStop) break;
        }

        EndDistributedTraining();
        if (Args.LoadBestModelAtEnd && State.BestModelCheckpoint != null && Directory.Exists(State.BestModelCheckpoint))
            model.LoadSaved(State.BestModelCheckpoint);
        if (Args.LoadBestModelAtEnd) BroadcastWeightsFromRankZero();

        totalLossScalar += trLoss;
        double trainLoss = State.GlobalStep > 0 ? totalLossScalar / State.GlobalStep : 0;
        double runtime = clock.Elapsed.TotalSeconds;
        var metrics = new Dictionary<string, double>
        {
            ["train_runtime"] = PyRound(runtime, 4),
            ["train_samples_per_second"] = PyRound(numTrainSamples / runtime, 3),
            ["train_steps_per_second"] = PyRound(maxSteps / runtime, 3),
            ["total_flos"] = State.TotalFlos,
            ["train_loss"] = trainLoss,
        };
        Log(new Dictionary<string, double>(metrics));
        metrics["epoch"] = State.Epoch ?? 0;
        Handler.OnTrainEnd(Args, State, Control);
        return new TrainOutput(State.GlobalStep, trainLoss, metrics);
    }

    private static int StepsOf(double value, int maxSteps) => value < 1 && value > 0 ? (int)Math.Ceiling(maxSteps * value) : (int)value;

    /// <summary>One micro-batch: forward in training mode, backward of loss / GA; returns loss / GA as float32.</summary>
    private float TrainingStep(Batch batch, long microBatchIndex)
    {
        // Dropout draws from a stream seeded by (seed, micro-batch): a resumed run sees the same masks.
        using var run = (RunContext.Current with { Generator = new Generator(SeedMix.Mix((ulong)Args.Seed, (ulong)microBatchIndex)) }).Enter();
        model.Module.Train();
        // Activations go back to the buffer pool when the step ends (parameters and their gradients are kept).
        using var scope = TensorScope.Begin();
        var output = model.Forward(batch);
        Tensor loss = ComputeLoss(batch, output);
        int ga = Args.GradientAccumulationSteps;
        float value = loss.Item();
        if (ga == 1) loss.Backward();
        else
        {
            var seed = Tensor.Full(1f / ga, loss.Shape);
            loss.Backward(seed);
        }
        return value / ga;
    }

    private Tensor ComputeLoss(Batch batch, ClassifierOutput output)
    {
        bool custom = (Args.LabelSmoothingFactor > 0 || ClassWeights != null) && batch.Labels != null && model.ProblemType == "single_label_classification";
        if (custom)
        {
            var weight = ClassWeights != null ? Tensor.FromArray(ClassWeights, ClassWeights.Length) : null;
            return F.CrossEntropy(output.Logits, IntTensor.FromArray(batch.Labels!, batch.BatchSize), labelSmoothing: (float)Args.LabelSmoothingFactor, weight: weight);
        }
        return output.Loss ?? throw FinetuneException.Invalid("The training data has no labels, so no loss can be computed.");
    }

    private void MaybeLogSaveEvaluate()
    {
        if (Control.ShouldLog)
        {
            double trLossScalar = trLoss;
            trLoss = 0f;
            var logs = new Dictionary<string, double>
            {
                ["loss"] = PyRound(trLossScalar / (State.GlobalStep - globalStepLastLogged), 4),
                ["learning_rate"] = scheduler!.LastLr,
            };
            totalLossScalar += trLossScalar;
            globalStepLastLogged = State.GlobalStep;
            Log(logs);
        }
        Dictionary<string, double>? metrics = null;
        if (Control.ShouldEvaluate) metrics = Evaluate();
        if (Control.ShouldSave)
        {
            SaveCheckpointOnRankZero(metrics);
            Handler.OnSave(Args, State, Control);
        }
    }

    /// <summary>Appends to log_history with epoch (rounded to 2 decimals) and step, then calls the callbacks.</summary>
    public void Log(Dictionary<string, double> logs)
    {
        if (State.Epoch is double e) logs["epoch"] = PyRound(e, 2);
        var entry = new Dictionary<string, double>(logs) { ["step"] = State.GlobalStep };
        State.LogHistory.Add(entry);
        Handler.OnLog(Args, State, Control, logs);
    }

    /// <summary>Python's round(x, digits) (correctly rounded, ties to even on the exact binary value).</summary>
    public static double PyRound(double x, int digits) =>
        double.IsFinite(x) ? double.Parse(PyFormat.Fixed(x, digits), System.Globalization.CultureInfo.InvariantCulture) : x;
}
