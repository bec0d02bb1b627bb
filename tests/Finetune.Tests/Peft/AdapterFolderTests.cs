using Finetune.Models;
using Finetune.Peft;
using Finetune.Tests.Cli;

namespace Finetune.Tests.Peft;

/// <summary>An adapter folder where a model folder is expected: merge and predict find the base through base_model_name_or_path.</summary>
public class AdapterFolderTests
{
    [Fact]
    public void MergeCommandResolvesTheBaseAndWritesAModelWithTheAdapterModelsLogits()
    {
        using var tmp = new TempDir();
        var baseModel = LoraTests.TinyBert();
        baseModel.SavePretrained(tmp.File("base"));
        var model = LoraTests.TinyBert();
        model.Eval();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig { R = 2, LoraAlpha = 4, BaseModelNameOrPath = "../base" });
        LoraTests.RandomizeB(peft);
        new global::Finetune.Tensors.Generator(8).FillNormal(model.Classifier.Weight.Span);
        float[] adapted = model.Forward(LoraTests.Inputs()).Logits.ToArray();
        peft.SavePretrained(tmp.File("adapter"));

        var (code, _, err) = CliRunner.Run("merge", "--model", tmp.File("adapter"), "--output", tmp.File("merged"));
        Assert.True(code == 0, err);
        var merged = AutoModelForSequenceClassification.FromPretrained(tmp.File("merged"));
        merged.Eval();
        float[] plain = merged.Forward(LoraTests.Inputs()).Logits.ToArray();
        for (int i = 0; i < adapted.Length; i++) Assert.True(Math.Abs(adapted[i] - plain[i]) <= 1e-5, $"logit {i}: adapter {adapted[i]}, merged {plain[i]}");
    }

    [Fact]
    public void FreezingLayersLeavesThemWithoutGradients()
    {
        var model = LoraTests.TinyBert();
        Freezing.FreezeEmbeddings(model);
        Freezing.FreezeLayers(model, 0, 0);
        model.Forward(LoraTests.Inputs(), new[] { 1, 0 }).Loss!.Backward();
        foreach (var (name, p) in model.NamedParameters())
        {
            bool frozen = name.StartsWith("bert.embeddings.", StringComparison.Ordinal) || name.StartsWith("bert.encoder.layer.0.", StringComparison.Ordinal);
            Assert.Equal(!frozen, p.RequiresGrad);
            Assert.Equal(!frozen, p.Grad != null);
        }
        var head = LoraTests.TinyBert();
        Freezing.FreezeBase(head);
        Assert.Equal(["classifier.weight", "classifier.bias"], head.NamedParameters().Where(p => p.Value.RequiresGrad).Select(p => p.Name));
        Assert.Equal((0, 5), Freezing.ParseRange("0-5"));
        Assert.Throws<FinetuneException>(() => Freezing.ParseRange("5-0"));
        Assert.Throws<FinetuneException>(() => Freezing.FreezeLayers(LoraTests.TinyBert(), 0, 2));
    }
}
