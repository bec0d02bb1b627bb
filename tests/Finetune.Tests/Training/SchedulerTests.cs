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
        var batch = new DataCollatorWithPadding(0).Collate(ToyClassifier.Data(8));
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
