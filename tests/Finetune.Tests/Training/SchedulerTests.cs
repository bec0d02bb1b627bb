using Finetune.Data;
using System.Text.Json;
using Finetune.Training;
using Finetune.Tests.Training;

namespace Finetune.Tests.Training;

public class SchedulerTests
{
    [SkippableFact]
    public void EveryScheduleMatchesTransformersAtEveryStep()
    {
        string path = SharedData.Require("golden/schedulers/schedulers.json");
        int checkedCases = 0;
        foreach (var e in JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray())
        {
            var type = LrScheduler.ParseType(e.GetProperty("type").GetString()!);
            var kw = e.GetProperty("kwargs");
            double? cycles = kw.TryGetProperty("num_cycles", out var c) ? c.GetDouble() : null;
            double lrEnd = kw.TryGetProperty("lr_end", out var le) ? le.GetDouble() : 1e-7;
            double power = kw.TryGetProperty("power", out var pw) ? pw.GetDouble() : 1.0;
            int warmup = e.GetProperty("num_warmup_steps").GetInt32(), total = e.GetProperty("num_training_steps").GetInt32();
            var sched = LrScheduler.Get(type, e.GetProperty("base_lr").GetDouble(), warmup, total, cycles, lrEnd, power);
            double[] expected = e.GetProperty("lr").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(total + 1, expected.Length);
            for (int i = 0; i < expected.Length; i++)
            {
                double got = sched.LastLr;
                Assert.True(Math.Abs(got - expected[i]) <= 1e-12 * Math.Abs(expected[i]),
                    $"{e.GetProperty("call").GetString()} step {i}: expected {expected[i]:R}, got {got:R}");
                sched.Step();
            }
            checkedCases++;
        }
        Assert.Equal(14, checkedCases);
    }

    [Fact]
    public void KerasPolynomialDecayFollowsItsFormula()
    {
        // Hand-worked: 2e-5 -> 0 over 10 steps, power 1: step 5 is halfway, past the end it stays at the end rate.
        var d = new PolynomialDecay(2e-5, 10, endLearningRate: 0.0);
        Assert.Equal(2e-5, d.LrAt(0), 15);
        Assert.Equal(1e-5, d.LrAt(5), 15);
        Assert.Equal(0.0, d.LrAt(10), 15);
        Assert.Equal(0.0, d.LrAt(25), 15);
        // power 2 with an end rate: (1e-3 - 1e-4) * (1 - 0.25)^2 + 1e-4 at step 1 of 4.
        var q = new PolynomialDecay(1e-3, 4, endLearningRate: 1e-4, power: 2);
        Assert.Equal(0.0009 * 0.5625 + 1e-4, q.LrAt(1), 15);
        // cycle: step 6 of a 4-step decay restarts over 8 steps: p = 6/8.
        var cyc = new PolynomialDecay(1.0, 4, endLearningRate: 0.0, cycle: true);
        Assert.Equal(0.25, cyc.LrAt(6), 15);
    }

    [Fact]
    public void AnUnknownSchedulerNameIsAClearError() =>
        Assert.Equal(ErrorKind.InvalidInput, Assert.Throws<FinetuneException>(() => LrScheduler.ParseType("exponential")).Kind);
}

public class HandWrittenLoopTests
{
    [Fact]
    public void SchedulerAttachedToAnOptimizerDrivesItsLearningRate()
    {
        // The notebooks' loop: optimizer = AdamW(model.parameters(), lr=5e-5); get_scheduler("linear", optimizer, 2, 6).
        var model = new ToyClassifier(dropoutP: 0);
        var opt = new AdamW(model, lr: 5e-5);
        Assert.Equal(0.01, opt.ParamGroups[0].WeightDecay); // torch.optim.AdamW's default
        var sched = LrScheduler.Get(SchedulerType.Linear, opt, numWarmupSteps: 2, numTrainingSteps: 6);
        Assert.Equal(0.0, opt.ParamGroups[0].Lr); // LambdaLR applies lambda(0) at construction
        double[] expected = { 2.5e-5, 5e-5, 3.75e-5, 2.5e-5, 1.25e-5, 0.0 };
        var batch = new DataLoader(ToyClassifier.Data(8), new DataCollatorWithPadding(0), batchSize: 8).BatchAt(0);
        foreach (double lr in expected)
        {
            var loss = model.Forward(batch).Loss!;
            loss.Backward();
            opt.Step();
            sched.Step();
            opt.ZeroGrad();
            Assert.Equal(lr, opt.ParamGroups[0].Lr, 15);
        }
    }
}

public class ScheduleArgumentsTests
{
    [SkippableFact]
    public void PolynomialLrEndAndPowerFromLrSchedulerKwargsMatchTransformers()
    {
        string path = SharedData.Require("golden/schedulers/schedulers.json");
        int checkedCases = 0;
        foreach (var e in JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray())
        {
            if (e.GetProperty("type").GetString() != "polynomial") continue;
            int warmup = e.GetProperty("num_warmup_steps").GetInt32(), total = e.GetProperty("num_training_steps").GetInt32();
            var args = new TrainingArguments { LearningRate = e.GetProperty("base_lr").GetDouble(), WarmupSteps = warmup };
            // As a config file gives them: lr_scheduler_type and the kwargs object.
            args.Set("lr_scheduler_type", "polynomial");
            args.Set("lr_scheduler_kwargs", e.GetProperty("kwargs").GetRawText());
            args.Validate();
            var sched = LrScheduler.FromArguments(args, total);
            double[] expected = e.GetProperty("lr").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(sched.LastLr - expected[i]) <= 1e-12 * Math.Abs(expected[i]), $"{e.GetProperty("call").GetString()} step {i}");
                sched.Step();
            }
            checkedCases++;
        }
        Assert.Equal(4, checkedCases); // power 1 and power 2, each with (0, 20) and (5, 23)
    }

    [Fact]
    public void LrSchedulerKwargsRoundTripAndAreCheckedAgainstTheSchedule()
    {
        var args = TrainingArguments.FromJson("{\"lr_scheduler_type\": \"polynomial\", \"lr_scheduler_kwargs\": {\"lr_end\": 1e-6, \"power\": 2}}");
        Assert.Equal(1e-6, args.LrSchedulerKwargs["lr_end"]);
        Assert.Equal(2.0, args.LrSchedulerKwargs["power"]);
        Assert.Equal(args.ToJson(), TrainingArguments.FromJson(args.ToJson()).ToJson());
        var yaml = TrainingArguments.FromYaml("lr_scheduler_type: polynomial\nlr_scheduler_kwargs:\n  power: 3\n");
        Assert.Equal(3.0, yaml.LrSchedulerKwargs["power"]);
        // transformers: "lr_end (0.1) must be smaller than initial lr (5e-05)"; a linear schedule takes no power.
        Assert.Throws<FinetuneException>(() => TrainingArguments.FromJson("{\"lr_scheduler_type\": \"polynomial\", \"lr_scheduler_kwargs\": {\"lr_end\": 0.1}}").Validate());
        Assert.Throws<FinetuneException>(() => TrainingArguments.FromJson("{\"lr_scheduler_kwargs\": {\"power\": 2}}").Validate());
    }

    [Fact]
    public void TheTrainerFollowsAKerasPolynomialDecayObject()
    {
        using var t = new TempDir();
        var args = new TrainingArguments { OutputDir = t.Path, PerDeviceTrainBatchSize = 4, NumTrainEpochs = 2, LearningRate = 0.05, SaveStrategy = IntervalStrategy.No, DisableTqdm = true };
        var decay = new PolynomialDecay(0.05, decaySteps: 12, endLearningRate: 0.001, power: 2);
        var trainer = new Trainer(new ToyClassifier(), args, ToyClassifier.Data(40), null, Trainer.AccuracyAndMacroF1) { LrSchedule = decay };
        var records = new List<StepRecord>();
        trainer.StepCompleted += records.Add;
        trainer.Train();
        Assert.Equal(20, records.Count);
        // Keras calls the schedule with the number of completed steps: (0.05 - 0.001) * (1 - k/12)^2 + 0.001, then 0.001.
        for (int k = 0; k < records.Count; k++)
            Assert.Equal((0.05 - 0.001) * Math.Pow(1 - Math.Min(k, 12) / 12.0, 2) + 0.001, records[k].LrUsed, 12);
    }

    [Fact]
    public void TheCommandLineSetsLrEndAndPower()
    {
        // Validation runs before any data is read: a wrong lr_end or a power for the linear schedule is a usage error (exit 2) naming it.
        var r = Finetune.Tests.Cli.CliRunner.Run("train", "--lr-scheduler-type", "polynomial", "--lr-end", "0.5", "--output-dir", "unused");
        Assert.Equal(2, r.Code);
        Assert.Contains("lr_end (0.5)", r.Err);
        r = Finetune.Tests.Cli.CliRunner.Run("train", "--power", "2", "--output-dir", "unused");
        Assert.Equal(2, r.Code);
        Assert.Contains("'power'", r.Err);
    }
}
