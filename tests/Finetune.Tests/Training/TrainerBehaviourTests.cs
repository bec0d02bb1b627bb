using System.Text.Json;
using Finetune.Training;

namespace Finetune.Tests.Training;

public class TrainerBehaviourTests
{
    private static TrainingArguments Args(string outDir) => new()
    {
        OutputDir = outDir,
        PerDeviceTrainBatchSize = 4,
        PerDeviceEvalBatchSize = 8,
        NumTrainEpochs = 3,
        LearningRate = 0.05,
        WarmupRatio = 0.1,
        WeightDecay = 0.01,
        LoggingSteps = 1,
        SaveStrategy = IntervalStrategy.No,
        EvalStrategy = IntervalStrategy.Epoch,
        DisableTqdm = true,
    };

    [Fact]
    public void LogHistoryFollowsTransformers()
    {
        using var t = new TempDir();
        var args = Args(t.Path);
        var trainer = new Trainer(new ToyClassifier(), args, ToyClassifier.Data(40), ToyClassifier.Data(12, seed: 9), Trainer.AccuracyAndMacroF1);
        var records = new List<StepRecord>();
        trainer.StepCompleted += records.Add;
        var result = trainer.Train();

        // 40 rows / batch 4 = 10 steps per epoch, 3 epochs; warmup ceil(30 * 0.1) = 3 so the first step uses lr 0.
        Assert.Equal(30, result.GlobalStep);
        Assert.Equal(0.0, records[0].LrUsed);
        Assert.Equal(0.05 / 3, records[1].LrUsed, 12);
        var history = trainer.State.LogHistory;
        var steps = history.Where(e => e.ContainsKey("loss")).ToList();
        Assert.Equal(30, steps.Count);
        // learning_rate is the scheduler's value after the step (the lr the next step uses); loss is rounded to 4 places.
        Assert.Equal(records[1].LrUsed, steps[0]["learning_rate"], 12);
        Assert.Equal(Math.Round(records[4].Loss, 4), steps[4]["loss"], 12);
        Assert.Equal(0.1, steps[0]["epoch"]);
        var evals = history.Where(e => e.ContainsKey("eval_loss")).ToList();
        Assert.Equal(new[] { 1.0, 2.0, 3.0 }, evals.Select(e => e["epoch"]));
        Assert.Equal(new[] { 10.0, 20.0, 30.0 }, evals.Select(e => e["step"]));
        Assert.Contains("eval_f1", evals[0].Keys);
        // train_loss is the mean of the unrounded step losses.
        Assert.Equal(records.Average(r => (double)r.Loss), result.TrainingLoss, 5);
        Assert.Equal(result.TrainingLoss, history[^1]["train_loss"]);
    }

    [Fact]
    public void GradientAccumulationOfTwoHalfBatchesEqualsOneFullBatch()
    {
        // Rows of equal length and no dropout: mean-of-means over two halves equals the mean over the batch.
        var toy = ToyClassifier.Data(32);
        var data = ToyClassifier.Rows(toy.GetIntLists("input_ids").Select(r => r!.Concat(new int[8]).Take(8).ToArray()).ToArray(), toy.GetInts("label"));
        using var t = new TempDir();
        var a1 = Args(t.Path);
        a1.EvalStrategy = IntervalStrategy.No;
        var a2 = a1.Clone();
        a1.PerDeviceTrainBatchSize = 8;
        a2.PerDeviceTrainBatchSize = 4;
        a2.GradientAccumulationSteps = 2;
        var m1 = new ToyClassifier(dropoutP: 0);
        var m2 = new ToyClassifier(dropoutP: 0);
        var r1 = new List<StepRecord>();
        var r2 = new List<StepRecord>();
        var t1 = new Trainer(m1, a1, data);
        var t2 = new Trainer(m2, a2, data);
        t1.StepCompleted += r1.Add;
        t2.StepCompleted += r2.Add;
        t1.Train();
        t2.Train();
        Assert.Equal(12, r1.Count);
        Assert.Equal(r1.Count, r2.Count);
        for (int i = 0; i < r1.Count; i++)
        {
            Assert.Equal(r1[i].Loss, r2[i].Loss, 5);
            Assert.Equal(r1[i].GradNorm, r2[i].GradNorm, 5);
        }
        var p1 = m1.NamedParameters().ToList();
        var p2 = m2.NamedParameters().ToList();
        for (int i = 0; i < p1.Count; i++)
            for (int j = 0; j < p1[i].Value.Length; j++) Assert.Equal(p1[i].Value.Span[j], p2[i].Value.Span[j], 4);
    }

    [Fact]
    public void AResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne()
    {
        using var full = new TempDir();
        using var part = new TempDir();
        var data = ToyClassifier.Data(40);
        var eval = ToyClassifier.Data(12, seed: 9);

        var argsFull = Args(full.Path);
        argsFull.GradientAccumulationSteps = 2;
        argsFull.TrainSamplingStrategy = TrainSamplingStrategy.Random;
        var uninterrupted = new ToyClassifier();
        new Trainer(uninterrupted, argsFull, data, eval, Trainer.AccuracyAndMacroF1).Train();

        // The "killed" run: saves every 4 steps and stops after step 8 (as if killed), then a fresh process resumes.
        var argsPart = Args(part.Path);
        argsPart.GradientAccumulationSteps = 2;
        argsPart.TrainSamplingStrategy = TrainSamplingStrategy.Random;
        argsPart.SaveStrategy = IntervalStrategy.Steps;
        argsPart.SaveSteps = 4;
        var killed = new Trainer(new ToyClassifier(), argsPart, data, eval, Trainer.AccuracyAndMacroF1, new[] { new StopAt(8) });
        killed.Train();
        string ckpt = Path.Combine(part.Path, "checkpoint-8");
        Assert.True(File.Exists(Path.Combine(ckpt, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(ckpt, "optimizer.safetensors")));
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(ckpt, "trainer_state.json"))).RootElement;
        Assert.Equal(8, state.GetProperty("global_step").GetInt32());
        Assert.Equal(8, state.GetProperty("log_history").EnumerateArray().Count(e => e.TryGetProperty("loss", out _)));

        // A process killed while saving leaves only a temporary folder, which resuming from the last checkpoint ignores.
        Directory.CreateDirectory(Path.Combine(part.Path, "checkpoint-12.tmp-4242"));
        File.WriteAllText(Path.Combine(part.Path, "checkpoint-12.tmp-4242", "model.safetensors"), "half a file");

        var resumedModel = new ToyClassifier(seed: 99); // different init: everything must come from the checkpoint
        var resumed = new Trainer(resumedModel, argsPart, data, eval, Trainer.AccuracyAndMacroF1);
        var result = resumed.Train("last");
        Assert.Equal(15, result.GlobalStep);

        var a = uninterrupted.NamedParameters().ToList();
        var b = resumedModel.NamedParameters().ToList();
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Value.ToArray(), b[i].Value.ToArray());
    }

    [Fact]
    public void RotationKeepsTheBestCheckpointAndEarlyStoppingStops()
    {
        using var t = new TempDir();
        var args = Args(t.Path);
        args.NumTrainEpochs = 8;
        args.SaveStrategy = IntervalStrategy.Epoch;
        args.SaveTotalLimit = 1;
        args.LoadBestModelAtEnd = true;
        args.MetricForBestModel = "loss";
        args.LearningRate = 5.0; // diverges, so the loss stops improving early
        var early = new EarlyStoppingCallback(earlyStoppingPatience: 2);
        var trainer = new Trainer(new ToyClassifier(), args, ToyClassifier.Data(40), ToyClassifier.Data(12, seed: 9), Trainer.AccuracyAndMacroF1, new[] { early });
        trainer.Train();
        var evals = trainer.State.LogHistory.Where(e => e.ContainsKey("eval_loss")).ToList();
        Assert.True(evals.Count < 8, "early stopping should end training before the last epoch");
        double best = evals.Min(e => e["eval_loss"]);
        Assert.Equal(best, trainer.State.BestMetric);
        var dirs = Directory.GetDirectories(t.Path, "checkpoint-*").Select(Path.GetFileName).ToList();
        Assert.Contains(Path.GetFileName(trainer.State.BestModelCheckpoint!), dirs);
        Assert.True(dirs.Count <= 2);
    }

    private sealed class StopAt(int step) : TrainerCallback
    {
        public override void OnStepEnd(TrainingArguments args, TrainerState state, TrainerControl control)
        {
            if (state.GlobalStep >= step) control.ShouldTrainingStop = true;
        }
    }
}

public class TrainerLossOptionTests
{
    [Fact]
    public void LabelSmoothingAndClassWeightsFollowTheirFormulas()
    {
        using var t = new TempDir();
        var eval = ToyClassifier.Data(16, seed: 5);
        var args = new TrainingArguments { OutputDir = t.Path, PerDeviceEvalBatchSize = 16, LabelSmoothingFactor = 0.1, DisableTqdm = true };
        var trainer = new Trainer(new ToyClassifier(dropoutP: 0), args, evalDataset: eval);
        var pred = trainer.Predict(eval);
        int n = eval.NumRows;
        double smoothed = 0, weighted = 0, weightSum = 0;
        double[] w = { 0.25, 2.0 };
        for (int i = 0; i < n; i++)
        {
            double a = pred.Predictions[2 * i], b = pred.Predictions[2 * i + 1];
            double m = Math.Max(a, b), lse = m + Math.Log(Math.Exp(a - m) + Math.Exp(b - m));
            double[] logp = { a - lse, b - lse };
            int y = eval.GetInts("label")[i];
            // transformers' LabelSmoother: (1 - eps) * nll + eps * mean over classes of -log p.
            smoothed += 0.9 * -logp[y] + 0.1 * -(logp[0] + logp[1]) / 2;
            weighted += w[y] * -logp[y];
            weightSum += w[y];
        }
        Assert.Equal(smoothed / n, pred.Metrics["test_loss"], 5);

        var args2 = new TrainingArguments { OutputDir = t.Path, PerDeviceEvalBatchSize = 16, DisableTqdm = true };
        var weightedTrainer = new Trainer(new ToyClassifier(dropoutP: 0), args2, evalDataset: eval) { ClassWeights = new[] { 0.25f, 2.0f } };
        Assert.Equal(weighted / weightSum, weightedTrainer.Predict(eval).Metrics["test_loss"], 5);

        // Both options also train (the backward pass goes through the smoothed / weighted loss).
        var trainArgs = new TrainingArguments { OutputDir = t.Path, PerDeviceTrainBatchSize = 8, NumTrainEpochs = 1, LabelSmoothingFactor = 0.1, SaveStrategy = IntervalStrategy.No, DisableTqdm = true };
        var trained = new Trainer(new ToyClassifier(), trainArgs, ToyClassifier.Data(32)) { ClassWeights = new[] { 0.5f, 1.5f } }.Train();
        Assert.Equal(4, trained.GlobalStep);
        Assert.True(double.IsFinite(trained.TrainingLoss));
    }
}

public class SamplerTests
{
    /// <summary>The row order of one epoch of the Trainer's training DataLoader.</summary>
    private static int[] EpochOrder(Finetune.Data.Dataset data, TrainingArguments args, int epoch)
    {
        var loader = new Trainer(new ToyClassifier(), args, data).GetTrainDataLoader();
        loader.Epoch = epoch;
        return loader.Order();
    }

    [Fact]
    public void SequentialRandomAndLengthGroupedOrders()
    {
        var data = ToyClassifier.Data(300);
        int[] lengths = data.GetIntLists("input_ids").Select(r => r!.Length).ToArray();
        var args = new TrainingArguments { PerDeviceTrainBatchSize = 4, TrainSamplingStrategy = TrainSamplingStrategy.Sequential };
        Assert.Equal(Enumerable.Range(0, 300), EpochOrder(data, args, 0));

        args.TrainSamplingStrategy = TrainSamplingStrategy.Random;
        int[] e0 = EpochOrder(data, args, 0), e1 = EpochOrder(data, args, 1);
        Assert.Equal(Enumerable.Range(0, 300), e0.Order());
        Assert.NotEqual(e0, e1); // a fresh shuffle each epoch
        Assert.Equal(e0, EpochOrder(data, args, 0)); // deterministic for a seed

        args.GroupByLength = true; // wins over the sampling strategy, as in transformers
        int[] g = EpochOrder(data, args, 0);
        Assert.Equal(Enumerable.Range(0, 300), g.Order());
        int longest = lengths.Max();
        Assert.Equal(longest, lengths[g[0]]);
        // transformers' get_length_grouped_indices cuts megabatches of min(300 / (4 * 4), 50) = 18 batches (72 rows);
        // within the first, lengths never increase after the first element.
        for (int i = 2; i < 72; i++) Assert.True(lengths[g[i]] <= lengths[g[i - 1]]);
    }

    [Fact]
    public void LengthGroupingFollowsTheTrainersBatchAndDataSeed()
    {
        // transformers' _get_train_sampler: LengthGroupedSampler(train_batch_size * gradient_accumulation_steps);
        // the order is seeded by data_seed when set (numpy's generator, seed + epoch here).
        var data = ToyClassifier.Data(300);
        int[] lengths = data.GetIntLists("input_ids").Select(r => r!.Length).ToArray();
        var args = new TrainingArguments { PerDeviceTrainBatchSize = 4, GradientAccumulationSteps = 2, GroupByLength = true, Seed = 1, DataSeed = 17 };
        Assert.Equal(Finetune.Data.DataLoader.LengthGroupedIndices(lengths, 8, new Finetune.Data.NumpyRandom(19)), EpochOrder(data, args, 2));
    }
}
