using System.Text.Json;
using Finetune.Training;

namespace Finetune.Tests.Training;

public class TrainingArgumentsTests
{
    [Fact]
    public void DefaultsAreTransformers()
    {
        var a = new TrainingArguments();
        Assert.Equal(3.0, a.NumTrainEpochs);
        Assert.Equal(-1, a.MaxSteps);
        Assert.Equal(8, a.PerDeviceTrainBatchSize);
        Assert.Equal(8, a.PerDeviceEvalBatchSize);
        Assert.Equal(5e-5, a.LearningRate);
        Assert.Equal(0.0, a.WeightDecay);
        Assert.Equal(0.9, a.AdamBeta1);
        Assert.Equal(0.999, a.AdamBeta2);
        Assert.Equal(1e-8, a.AdamEpsilon);
        Assert.Equal(1.0, a.MaxGradNorm);
        Assert.Equal(SchedulerType.Linear, a.LrSchedulerType);
        Assert.Equal(1, a.GradientAccumulationSteps);
        Assert.Equal(IntervalStrategy.No, a.EvalStrategy);
        Assert.Equal(IntervalStrategy.Steps, a.SaveStrategy);
        Assert.Equal(IntervalStrategy.Steps, a.LoggingStrategy);
        Assert.Equal(500, a.LoggingSteps);
        Assert.Equal(500, a.SaveSteps);
        Assert.Equal(42, a.Seed);
        Assert.Null(a.DataSeed);
        Assert.Null(a.SaveTotalLimit);
    }

    [SkippableTheory]
    [InlineData("bs16_e2", 1, 64)]
    [InlineData("bs16_e2_ga2", 2, 32)]
    public void TransformersTrainingArgsJsonLoadsAndGivesItsWarmup(string run, int ga, int totalSteps)
    {
        string dir = SharedData.Require("golden/training/" + run);
        var a = TrainingArguments.Load(Path.Combine(dir, "training_args.json"));
        Assert.Equal(16, a.PerDeviceTrainBatchSize);
        Assert.Equal(32, a.PerDeviceEvalBatchSize);
        Assert.Equal(2.0, a.NumTrainEpochs);
        Assert.Equal(5e-4, a.LearningRate);
        Assert.Equal(0.1, a.WarmupRatio);
        Assert.Equal(0.01, a.WeightDecay);
        Assert.Equal(ga, a.GradientAccumulationSteps);
        Assert.Equal(IntervalStrategy.Epoch, a.EvalStrategy); // written as "evaluation_strategy" by 4.35
        Assert.Equal(IntervalStrategy.No, a.SaveStrategy);
        Assert.Equal(1, a.LoggingSteps);
        Assert.True(a.DisableTqdm);
        a.Validate();

        // The Trainer's lr at step 2 is lr * 1/warmup: recover warmup from the golden trajectory.
        var steps = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "steps_exact.json"))).RootElement;
        Assert.Equal(totalSteps, steps.GetArrayLength());
        double lr2 = steps[1].GetProperty("lr_used").GetDouble();
        int warmup = a.GetWarmupSteps(totalSteps);
        Assert.Equal(Math.Round(a.LearningRate / lr2), warmup);
    }

    [Fact]
    public void YamlWithSnakeCaseKeysLoads()
    {
        using var t = new TempDir();
        File.WriteAllText(t.File("args.yaml"), "output_dir: runs/x\nper_device_train_batch_size: 32\neval_strategy: epoch\nlr_scheduler_type: cosine_with_restarts\nsave_total_limit: 2\nmetric_for_best_model: f1\nload_best_model_at_end: true\nsave_strategy: epoch\ndata_seed: null\nunknown_thing: 5\n");
        var a = TrainingArguments.Load(t.File("args.yaml"));
        Assert.Equal("runs/x", a.OutputDir);
        Assert.Equal(32, a.PerDeviceTrainBatchSize);
        Assert.Equal(SchedulerType.CosineWithRestarts, a.LrSchedulerType);
        Assert.Equal(2, a.SaveTotalLimit);
        Assert.True(a.EffectiveGreaterIsBetter);
        a.Validate();
    }

    [Fact]
    public void JsonRoundTripsThroughSnakeCase()
    {
        var a = new TrainingArguments { LearningRate = 2e-5, EvalStrategy = IntervalStrategy.Epoch, SaveTotalLimit = 3, TrainSamplingStrategy = TrainSamplingStrategy.GroupByLength };
        string json = a.ToJson();
        Assert.Contains("\"per_device_train_batch_size\": 8", json);
        Assert.Contains("\"adam_beta1\": 0.9", json);
        var b = TrainingArguments.FromJson(json);
        Assert.Equal(a.ToJson(), b.ToJson());
    }

    [Fact]
    public void BadValuesAreOneClearSentence()
    {
        var e = Assert.Throws<FinetuneException>(() => TrainingArguments.FromJson("{\"per_device_train_batch_size\": \"lots\"}", "args.json"));
        Assert.Contains("per_device_train_batch_size", e.Message);
        var v = new TrainingArguments { LoadBestModelAtEnd = true, EvalStrategy = IntervalStrategy.Epoch, SaveStrategy = IntervalStrategy.Steps };
        Assert.Equal(ErrorKind.InvalidInput, Assert.Throws<FinetuneException>(v.Validate).Kind);
    }
}
