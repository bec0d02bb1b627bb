using System.Text.Json;
using Finetune.Models;
using Finetune.Tensors;
using Finetune.Training;
using Finetune.Weights;

namespace Finetune.Tests.Training;

/// <summary>golden/models/&lt;case&gt;/optim: six Trainer-style AdamW steps (groups, warmup 2 of 6, clipping at 1).</summary>
public class OptimGoldenTests
{
    [SkippableTheory]
    [InlineData("bert")]
    [InlineData("bert_multilabel")]
    [InlineData("bert_regression")]
    [InlineData("distilbert")]
    [InlineData("roberta")]
    [InlineData("camembert")]
    [InlineData("albert")]
    [InlineData("electra")]
    public void SixAdamWStepsMatchTorch(string name)
    {
        string dir = SharedData.Require("golden/models/" + name);
        var model = AutoModelForSequenceClassification.FromPretrained(dir);
        model.Eval();
        EncoderInputs inputs;
        Labels labels;
        using (var src = SafeTensors.Read(Path.Combine(dir, "inputs.safetensors")))
        {
            int[] Ints(string n) => src.ReadInt64(n).Select(v => (int)v).ToArray();
            int[] shape = src.Info("input_ids").Shape;
            IntTensor T(string n) => IntTensor.FromArray(Ints(n), shape);
            inputs = new EncoderInputs(T("input_ids"), T("attention_mask"), src.Contains("token_type_ids") ? T("token_type_ids") : null);
            labels = src.Info("labels").DType.IsFloat() ? src.ReadFloat("labels") : Ints("labels");
        }

        var groupsJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "optim/param_groups.json"))).RootElement;
        var (decay, noDecay) = OptimizerUtils.TrainerParamGroups(model, 0.01);
        Assert.Equal(groupsJson.GetProperty("weight_decay_0.01").EnumerateArray().Select(e => e.GetString()).Order(StringComparer.Ordinal),
            decay.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(groupsJson.GetProperty("weight_decay_0.0").EnumerateArray().Select(e => e.GetString()).Order(StringComparer.Ordinal),
            noDecay.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal));

        var opt = new AdamW(new[] { decay, noDecay }, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8);
        var sched = LrScheduler.Get(SchedulerType.Linear, 1e-3, 2, 6);
        var steps = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "optim/steps.json"))).RootElement.EnumerateArray().ToArray();
        foreach (var s in steps)
        {
            model.ZeroGrad();
            var output = model.Forward(inputs, labels);
            output.Loss!.Backward();
            float norm = OptimizerUtils.ClipGradNorm(model.Parameters(), 1.0);
            double lr = sched.LastLr;
            opt.SetLr(lr);
            opt.Step();
            sched.Step();
            int step = s.GetProperty("step").GetInt32();
            Assert.True(Math.Abs(output.Loss.Item() - s.GetProperty("loss").GetDouble()) <= 1e-5, $"{name} step {step} loss {output.Loss.Item()} vs {s.GetProperty("loss").GetDouble()}");
            Assert.Equal(s.GetProperty("lr").GetDouble(), lr, 15);
            Assert.Equal(s.GetProperty("lr_after_scheduler_step").GetDouble(), sched.LastLr, 15);
            double gn = s.GetProperty("grad_norm_before_clip").GetDouble();
            Assert.True(Math.Abs(norm - gn) <= 1e-4 * gn, $"{name} step {step} grad norm {norm} vs {gn}");
        }

        // Final parameters within 1e-5 abs (the README's Adam sign caveat never triggers here: every element agrees).
        using var expected = SafeTensors.Read(Path.Combine(dir, "optim/params_after_step6.safetensors"));
        foreach (var (pname, p) in model.NamedParameters())
        {
            float[] want = expected.ReadFloat(pname);
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(p.Span[i] - want[i]) <= 1e-5, $"{name} {pname}[{i}]: {p.Span[i]} vs {want[i]}");
        }
        string statePath = Path.Combine(dir, "optim/adamw_state_after_step6.safetensors");
        if (!File.Exists(statePath)) return; // only the bert case stores the optimizer state
        using var state = SafeTensors.Read(statePath);
        var mine = opt.StateTensors().ToDictionary(t => t.Key, t => t.Data);
        Assert.Equal(6, opt.StepCounts.Values.Distinct().Single());
        foreach (string key in state.Names)
        {
            float[] want = state.ReadFloat(key);
            float[] got = mine[key];
            float scale = want.Max(Math.Abs);
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(got[i] - want[i]) <= 1e-3 * Math.Abs(want[i]) + 1e-4 * scale + 1e-12, $"{key}[{i}]: {got[i]} vs {want[i]}");
        }
    }
}
