using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Models.DistilBert;
using Finetune.Nn;
using Finetune.Peft;
using Finetune.Tensors;
using Finetune.Training;

namespace Finetune.Tests.Peft;

/// <summary>LoRA's arithmetic from first principles: the adapted layer, its gradients, freezing, and the unchanged start.</summary>
public class LoraTests
{
    internal static BertForSequenceClassification TinyBert(ulong seed = 3) => new(new BertConfig(new JsonObject
    {
        ["vocab_size"] = 40,
        ["hidden_size"] = 8,
        ["num_attention_heads"] = 2,
        ["num_hidden_layers"] = 2,
        ["intermediate_size"] = 16,
        ["max_position_embeddings"] = 16,
        ["num_labels"] = 3,
    }), new Generator(seed));

    internal static DistilBertForSequenceClassification TinyDistilBert() => new(new DistilBertConfig(new JsonObject
    {
        ["vocab_size"] = 40,
        ["dim"] = 8,
        ["n_heads"] = 2,
        ["n_layers"] = 2,
        ["hidden_dim"] = 16,
        ["max_position_embeddings"] = 16,
    }), new Generator(5));

    internal static EncoderInputs Inputs()
    {
        int[] ids = [2, 7, 11, 3, 9, 0, 2, 31, 5, 17, 22, 3];
        int[] mask = [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1];
        return new EncoderInputs(IntTensor.FromArray(ids, 2, 6), IntTensor.FromArray(mask, 2, 6));
    }

    /// <summary>Gives every B random values, so the adapters change the output and their A gradients are not zero.</summary>
    internal static void RandomizeB(PeftModel peft, ulong seed = 9)
    {
        var rng = new Generator(seed);
        foreach (var (name, p) in peft.Model.NamedParameters())
            if (name.EndsWith("lora_B.weight", StringComparison.Ordinal)) rng.FillNormal(p.Span, 0f, 0.5f);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdaptedLinearIsWxPlusBPlusScaledBAxInDouble(bool rslora)
    {
        var rng = new Generator(1);
        var baseLayer = new Linear(5, 4, true, 0.5f, rng);
        rng.FillNormal(baseLayer.Bias!.Span);
        var config = new LoraConfig { R = 2, LoraAlpha = 6, UseRslora = rslora };
        var lora = new LoraLinear(baseLayer, config, rng);
        rng.FillNormal(lora.LoraB.Weight.Span);
        var x = Tensor.Randn(rng, 1f, 3, 5);
        float[] y = lora.Forward(x).ToArray();

        double scale = rslora ? 6 / Math.Sqrt(2) : 6 / 2.0;
        float[] w = baseLayer.Weight.ToArray(), b = baseLayer.Bias.ToArray(), a = lora.LoraA.Weight.ToArray(), bb = lora.LoraB.Weight.ToArray(), xs = x.ToArray();
        for (int n = 0; n < 3; n++)
        {
            var ax = new double[2];
            for (int k = 0; k < 2; k++)
                for (int i = 0; i < 5; i++) ax[k] += (double)a[k * 5 + i] * xs[n * 5 + i];
            for (int o = 0; o < 4; o++)
            {
                double expected = b[o];
                for (int i = 0; i < 5; i++) expected += (double)w[o * 5 + i] * xs[n * 5 + i];
                for (int k = 0; k < 2; k++) expected += scale * bb[o * 2 + k] * ax[k];
                Assert.True(Math.Abs(y[n * 4 + o] - expected) < 1e-5 * (1 + Math.Abs(expected)), $"y[{n},{o}] = {y[n * 4 + o]}, expected {expected}");
            }
        }
        // A is U(±1/√in) (torch's Kaiming-uniform with a = √5), B starts at zero.
        var fresh = new LoraLinear(baseLayer, config, new Generator(2));
        Assert.All(fresh.LoraA.Weight.ToArray(), v => Assert.InRange(v, -1 / MathF.Sqrt(5), 1 / MathF.Sqrt(5)));
        Assert.All(fresh.LoraB.Weight.ToArray(), v => Assert.Equal(0f, v));
        Assert.Null(fresh.Affine); // opts out of the packed projection, whose weight gradient would be the full one
    }

    [Fact]
    public void FreshAdaptersLeaveTheLogitsExactlyAsTheBaseModels()
    {
        var model = TinyBert();
        model.Eval();
        float[] before = model.Forward(Inputs()).Logits.ToArray();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig());
        float[] after = model.Forward(Inputs()).Logits.ToArray();
        Assert.Equal(before, after);
        Assert.Equal(["bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.attention.self.value",
            "bert.encoder.layer.1.attention.self.query", "bert.encoder.layer.1.attention.self.value"], peft.AdaptedModules);
        // The attention block's own property now returns the adapter, so the model's code runs it.
        Assert.IsType<LoraLinear>(model.Bert.Encoder.Layer[0].Attention.Self.Query);
    }

    [Fact]
    public void FrozenParametersGetNoGradientAndNoOptimizerState()
    {
        var model = TinyBert();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig());
        RandomizeB(peft);
        model.Forward(Inputs(), new[] { 0, 2 }).Loss!.Backward();
        var trainable = new List<string>();
        foreach (var (name, p) in model.NamedParameters())
        {
            bool adapter = name.Contains(".lora_", StringComparison.Ordinal) || name.StartsWith("classifier.", StringComparison.Ordinal);
            Assert.Equal(adapter, p.RequiresGrad);
            if (adapter) Assert.NotNull(p.Grad);
            else Assert.Null(p.Grad);
            if (adapter) trainable.Add(name);
        }
        Assert.Equal(2 * 4 + 2, trainable.Count);
        var optimizer = OptimizerUtils.Create(new TrainingArguments { OutputDir = "unused" }, model);
        optimizer.Step();
        var stateNames = optimizer.StateTensors().Select(s => s.Key[(s.Key.IndexOf('.') + 1)..]).Distinct().Order().ToList();
        Assert.Equal(trainable.Order().ToList(), stateNames);
    }

    [Fact]
    public void AdapterAndHeadGradientsMatchFiniteDifferences()
    {
        var model = TinyBert();
        model.Eval();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig { R = 2, LoraAlpha = 4 });
        RandomizeB(peft);
        int[] labels = [1, 2];
        model.Forward(Inputs(), labels).Loss!.Backward();
        var rng = new Generator(4);
        foreach (var (name, p) in model.NamedParameters())
        {
            if (!p.RequiresGrad) continue;
            float[] g = p.Grad!.ToArray();
            for (int trial = 0; trial < 3; trial++)
            {
                int i = rng.NextInt(p.Length);
                float saved = p.Span[i];
                const float h = 1e-2f;
                double Loss(float v)
                {
                    p.Span[i] = v;
                    using var _ = Tensor.NoGrad();
                    return model.Forward(Inputs(), labels).Loss!.ToArray()[0];
                }
                double numeric = (Loss(saved + h) - Loss(saved - h)) / (2 * h);
                p.Span[i] = saved;
                Assert.True(Math.Abs(g[i] - numeric) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"{name}[{i}]: autograd {g[i]}, finite difference {numeric}");
            }
        }
    }

    [Fact]
    public void DistilBertDefaultsTargetQLinAndVLin()
    {
        var model = TinyDistilBert();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig());
        Assert.Equal(["q_lin", "v_lin"], peft.Config.TargetModules);
        Assert.Equal(4, peft.AdaptedModules.Count());
        Assert.All(peft.AdaptedModules, m => Assert.Matches(@"^distilbert\.transformer\.layer\.\d\.attention\.[qv]_lin$", m));
    }

    [Fact]
    public void AMissingTargetOrANonLinearTargetIsAClearError()
    {
        var e = Assert.Throws<FinetuneException>(() => PeftModel.GetPeftModel(TinyBert(), new LoraConfig { TargetModules = ["q_proj"] }));
        Assert.Contains("q_proj", e.Message);
        var e2 = Assert.Throws<FinetuneException>(() => PeftModel.GetPeftModel(TinyBert(), new LoraConfig { TargetModules = ["LayerNorm"] }));
        Assert.Equal(ErrorKind.Unsupported, e2.Kind);
    }
}
