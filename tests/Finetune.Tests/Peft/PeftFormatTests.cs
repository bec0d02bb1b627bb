using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Peft;
using Finetune.Tensors;
using Finetune.Weights;

namespace Finetune.Tests.Peft;

/// <summary>
/// The adapter folder in peft's layout. The key rules, from peft's utils/save_and_load.py get_peft_model_state_dict
/// and the ModulesToSaveWrapper:
/// 1. keys are the PeftModel's state_dict names: "base_model.model." + the transformers name;
/// 2. an adapted layer holds base_layer (its frozen Linear), lora_A.{adapter}, lora_B.{adapter};
/// 3. bias "none" keeps keys containing "lora_"; "all" adds every key containing "bias"; "lora_only" adds
///    k.split("lora_")[0] + "bias" when that key exists (it does not: the bias sits under base_layer);
/// 4. a module to save is written as "{module path}.{its own parameter name}" (neither "modules_to_save" nor the adapter name);
/// 5. a trailing ".{adapter}" before the parameter name is removed ("lora_A.default.weight" → "lora_A.weight").
/// </summary>
public class PeftFormatTests
{
    private static List<string> Expected(string bias)
    {
        var keys = new List<string>();
        for (int l = 0; l < 2; l++)
            foreach (string m in new[] { "query", "value" })
            {
                string path = $"base_model.model.bert.encoder.layer.{l}.attention.self.{m}";
                keys.Add(path + ".lora_A.weight");
                keys.Add(path + ".lora_B.weight");
            }
        keys.Add("base_model.model.classifier.weight");
        keys.Add("base_model.model.classifier.bias");
        if (bias == "all")
        {
            var model = LoraTests.TinyBert();
            foreach (var (name, _) in model.NamedParameters())
            {
                if (!name.Contains("bias", StringComparison.Ordinal) || name.StartsWith("classifier.", StringComparison.Ordinal)) continue;
                bool adapted = name.Contains("attention.self.query.", StringComparison.Ordinal) || name.Contains("attention.self.value.", StringComparison.Ordinal);
                keys.Add("base_model.model." + (adapted ? name.Replace(".bias", ".base_layer.bias", StringComparison.Ordinal) : name));
            }
        }
        return keys;
    }

    [Theory]
    [InlineData("none")]
    [InlineData("all")]
    [InlineData("lora_only")]
    public void SavedKeysAndConfigAreThosePeftWrites(string bias)
    {
        var peft = PeftModel.GetPeftModel(LoraTests.TinyBert(), new LoraConfig { Bias = bias, BaseModelNameOrPath = "prajjwal1/bert-tiny" });
        using var tmp = new TempDir();
        peft.SavePretrained(tmp.Path);
        using (var file = SafeTensors.Read(tmp.File(LoraConfig.AdapterWeightsName)))
            Assert.Equal(Expected(bias).Order(StringComparer.Ordinal), file.Names.Order(StringComparer.Ordinal));
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(tmp.File(LoraConfig.AdapterConfigName)))!;
        Assert.Equal("LORA", (string?)json["peft_type"]);
        Assert.Equal("SEQ_CLS", (string?)json["task_type"]);
        Assert.Equal("prajjwal1/bert-tiny", (string?)json["base_model_name_or_path"]);
        Assert.Equal(8, (int?)json["r"]);
        Assert.Equal(8, (int?)json["lora_alpha"]);
        Assert.Equal(0.0, (double?)json["lora_dropout"]);
        Assert.Equal(bias, (string?)json["bias"]);
        Assert.Equal("[\"query\",\"value\"]", json["target_modules"]!.ToJsonString());
        Assert.Equal("[\"classifier\",\"score\"]", json["modules_to_save"]!.ToJsonString());
        Assert.True((bool?)json["init_lora_weights"]);
        Assert.False((bool?)json["use_rslora"]);
        Assert.False((bool?)json["fan_in_fan_out"]);
        Assert.False((bool?)json["use_dora"]);
    }

    [Fact]
    public void ASavedAdapterLoadsBackOverAFreshBaseWithIdenticalTensorsAndLogits()
    {
        var model = LoraTests.TinyBert();
        model.Eval();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig { R = 4, LoraAlpha = 16, Bias = "all" });
        LoraTests.RandomizeB(peft);
        new Generator(6).FillNormal(model.Classifier.Weight.Span);
        new Generator(7).FillNormal(model.Bert.Encoder.Layer[1].Output.Dense.Bias!.Span);
        float[] logits = model.Forward(LoraTests.Inputs()).Logits.ToArray();
        using var tmp = new TempDir();
        peft.SavePretrained(tmp.Path);

        var fresh = LoraTests.TinyBert();
        fresh.Eval();
        var loaded = PeftModel.FromPretrained(fresh, tmp.Path);
        Assert.Equal(16, loaded.Config.LoraAlpha);
        var a = model.NamedParameters().ToList();
        var b = fresh.NamedParameters().ToList();
        Assert.Equal(a.Select(p => p.Name), b.Select(p => p.Name));
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].Value.Span.SequenceEqual(b[i].Value.Span), a[i].Name);
        Assert.Equal(logits, fresh.Forward(LoraTests.Inputs()).Logits.ToArray());
    }

    [Fact]
    public void AHandMadePeftAdapterFolderLoads()
    {
        using var tmp = new TempDir();
        // What peft's save_pretrained writes for LoraConfig(task_type="SEQ_CLS", r=2, lora_alpha=4, target_modules=["value"]).
        File.WriteAllText(tmp.File(LoraConfig.AdapterConfigName), """
            {
              "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "tiny", "bias": "none",
              "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "layer_replication": null,
              "layers_pattern": null, "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 4,
              "lora_dropout": 0.1, "megatron_config": null, "megatron_core": "megatron.core",
              "modules_to_save": ["classifier", "score"], "peft_type": "LORA", "r": 2, "rank_pattern": {},
              "revision": null, "target_modules": ["value"], "task_type": "SEQ_CLS", "use_dora": false, "use_rslora": false
            }
            """);
        var tensors = new List<NamedTensor>();
        var expected = new Dictionary<string, float[]>();
        void Add(string key, params int[] shape)
        {
            int n = shape.Aggregate(1, (x, y) => x * y);
            var data = Enumerable.Range(0, n).Select(i => (float)Math.Sin(key.Length + i)).ToArray();
            tensors.Add(new NamedTensor(key, shape, data));
            expected[key] = data;
        }
        for (int l = 0; l < 2; l++)
        {
            Add($"base_model.model.bert.encoder.layer.{l}.attention.self.value.lora_A.weight", 2, 8);
            Add($"base_model.model.bert.encoder.layer.{l}.attention.self.value.lora_B.weight", 8, 2);
        }
        Add("base_model.model.classifier.weight", 3, 8);
        Add("base_model.model.classifier.bias", 3);
        SafeTensors.Write(tmp.File(LoraConfig.AdapterWeightsName), tensors);

        var model = LoraTests.TinyBert();
        var peft = PeftModel.FromPretrained(model, tmp.Path);
        Assert.Equal(["bert.encoder.layer.0.attention.self.value", "bert.encoder.layer.1.attention.self.value"], peft.AdaptedModules);
        var layer = (LoraLinear)model.Bert.Encoder.Layer[1].Attention.Self.Value;
        Assert.Equal(2f, layer.Scaling);
        Assert.Equal(0.1f, layer.Dropout.P);
        Assert.Equal(expected["base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight"], layer.LoraB.Weight.ToArray());
        Assert.Equal(expected["base_model.model.classifier.bias"], model.Classifier.Bias!.ToArray());
    }

    [Fact]
    public void AnAdapterTensorOfTheWrongShapeOrNameIsAnErrorNamingIt()
    {
        using var tmp = new TempDir();
        var peft = PeftModel.GetPeftModel(LoraTests.TinyBert(), new LoraConfig { R = 4 });
        peft.SavePretrained(tmp.Path);
        string config = tmp.File(LoraConfig.AdapterConfigName);
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"r\": 4", "\"r\": 2", StringComparison.Ordinal));
        var e = Assert.Throws<FinetuneException>(() => PeftModel.FromPretrained(LoraTests.TinyBert(), tmp.Path));
        Assert.Contains("lora_A.weight", e.Message);
        Assert.Contains("[2, 8]", e.Message);
        // A key the model lacks (another family's adapter) names the key.
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"r\": 2", "\"r\": 4", StringComparison.Ordinal));
        var tensors = new List<NamedTensor> { new("base_model.model.roberta.encoder.layer.0.attention.self.query.lora_A.weight", [4, 8], new float[32]) };
        SafeTensors.Write(tmp.File(LoraConfig.AdapterWeightsName), tensors);
        var e2 = Assert.Throws<FinetuneException>(() => PeftModel.FromPretrained(LoraTests.TinyBert(), tmp.Path));
        Assert.Contains("roberta.encoder.layer.0", e2.Message);
    }

    [Fact]
    public void MergeAndUnloadWritesAPlainCheckpointWithTheAdapterModelsLogits()
    {
        var model = LoraTests.TinyBert();
        model.Eval();
        var peft = PeftModel.GetPeftModel(model, new LoraConfig { R = 4, LoraAlpha = 16, TargetModules = ["query", "value", "dense"] });
        LoraTests.RandomizeB(peft);
        float[] adapted = model.Forward(LoraTests.Inputs()).Logits.ToArray();
        var merged = peft.MergeAndUnload();
        Assert.DoesNotContain(merged.NamedParameters(), p => p.Name.Contains("lora_", StringComparison.Ordinal));
        Assert.All(merged.NamedParameters(), p => Assert.True(p.Value.RequiresGrad, p.Name));
        using var tmp = new TempDir();
        merged.SavePretrained(tmp.Path);
        var reloaded = AutoModelForSequenceClassification.FromPretrained(tmp.Path);
        reloaded.Eval();
        float[] plain = reloaded.Forward(LoraTests.Inputs()).Logits.ToArray();
        for (int i = 0; i < adapted.Length; i++) Assert.True(Math.Abs(adapted[i] - plain[i]) <= 1e-5, $"logit {i}: adapter {adapted[i]}, merged {plain[i]}");
    }
}
