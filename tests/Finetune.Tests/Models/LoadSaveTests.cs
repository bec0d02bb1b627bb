using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tensors;
using Finetune.Tests.Weights;
using Finetune.Weights;

namespace Finetune.Tests.Models;

public class LoadSaveTests
{
    private static float[] Expected(string dir, string key)
    {
        using var st = SafeTensors.Read(Path.Combine(dir, "outputs.safetensors"));
        return st.ReadFloat(key);
    }

    [SkippableTheory]
    [MemberData(nameof(GoldenCases.Names), MemberType = typeof(GoldenCases))]
    public void SavedModelReloadsBitIdenticallyAndWritesThePythonFile(string name)
    {
        string dir = GoldenCases.Dir(name);
        var model = AutoModelForSequenceClassification.FromPretrained(dir);
        using var tmp = new TempDir();
        model.SavePretrained(tmp.Path);
        // Same names, order and values as transformers' save_pretrained: the file is byte-identical.
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "model.safetensors")), File.ReadAllBytes(tmp.File("model.safetensors")));
        var original = PretrainedConfig.ReadJson(Path.Combine(dir, "config.json"));
        var saved = PretrainedConfig.ReadJson(tmp.File("config.json"));
        foreach (var (key, value) in original)
            Assert.True(JsonNode.DeepEquals(value, saved[key]), $"{key}: {value?.ToJsonString()} became {saved[key]?.ToJsonString()}");
        var again = AutoModelForSequenceClassification.FromPretrained(tmp.Path);
        Assert.Equal(model.GetType(), again.GetType());
        var a = model.NamedParameters().ToList();
        var b = again.NamedParameters().ToList();
        Assert.Equal(a.Select(p => p.Name), b.Select(p => p.Name));
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].Value.Span.SequenceEqual(b[i].Value.Span), a[i].Name);
    }

    [SkippableFact]
    public void UnusedConfigFieldsAndTheInferredProblemTypeAreSaved()
    {
        string dir = GoldenCases.Dir("bert_regression");
        using var tmp = new TempDir();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        var json = PretrainedConfig.ReadJson(Path.Combine(dir, "config.json"));
        json["my_custom_field"] = new JsonObject { ["nested"] = new JsonArray(1, 2, 3) };
        File.WriteAllText(Path.Combine(src, "config.json"), json.ToJsonString());
        File.Copy(Path.Combine(dir, "model.safetensors"), Path.Combine(src, "model.safetensors"));
        var model = AutoModelForSequenceClassification.FromPretrained(src);
        var (inputs, labels) = ParityTests.ReadInputs(dir);
        model.Forward(inputs, labels);
        model.SavePretrained(tmp.File("out"));
        var saved = PretrainedConfig.ReadJson(Path.Combine(tmp.File("out"), "config.json"));
        Assert.Equal("[1,2,3]", saved["my_custom_field"]!["nested"]!.ToJsonString());
        Assert.Equal("regression", saved["problem_type"]!.GetValue<string>());
        Assert.Equal("score", saved["id2label"]!["0"]!.GetValue<string>());
    }

    [SkippableFact]
    public void HalfPrecisionConversionRoundsEveryWeightOnce()
    {
        string dir = GoldenCases.Dir("electra");
        var model = AutoModelForSequenceClassification.FromPretrained(dir);
        using var tmp = new TempDir();
        model.SavePretrained(tmp.Path, DType.BF16);
        Assert.Equal("bfloat16", PretrainedConfig.ReadJson(tmp.File("config.json"))["torch_dtype"]!.GetValue<string>());
        using var st = SafeTensors.Read(tmp.File("model.safetensors"));
        var reloaded = AutoModelForSequenceClassification.FromPretrained(tmp.Path);
        foreach (var ((name, a), (_, b)) in model.NamedParameters().Zip(reloaded.NamedParameters()))
        {
            Assert.Equal(DType.BF16, st.Info(name).DType);
            for (int i = 0; i < a.Length; i++)
            {
                float x = a.Span[i], y = b.Span[i];
                Assert.True(Math.Abs(x - y) <= Math.Abs(x) / 256, $"{name}[{i}]: {x} → {y}");
            }
        }
    }

    [SkippableFact]
    public void BaseCheckpointIntoTaskModelAndBack()
    {
        string dir = GoldenCases.Dir("bert");
        // A task checkpoint into the bare encoder: the "bert." prefix is stripped, the head is left unused.
        var encoder = AutoModel.FromPretrained(dir, null, out var report);
        Assert.IsType<BertModel>(encoder);
        Assert.Empty(report.NewlyInitialized);
        Assert.Equal(new[] { "classifier.bias", "classifier.weight" }, report.Unused.OrderBy(s => s, StringComparer.Ordinal));
        var (inputs, _) = ParityTests.ReadInputs(dir);
        var encoded = encoder.Forward(inputs, outputHiddenStates: true);
        Close.Elementwise("last hidden", Expected(dir, "hidden_states.2"), encoded.LastHiddenState.Span, 1e-5, 1e-4);
        Close.Elementwise("pooled", Expected(dir, "pooler_output"), encoded.PooledOutput!.Span, 1e-5, 1e-4);

        // The bare encoder saved (names without prefix) into a task model: the prefix is added, the head is new.
        using var tmp = new TempDir();
        encoder.SavePretrained(tmp.Path);
        using (var st = SafeTensors.Read(tmp.File("model.safetensors"))) Assert.Contains("embeddings.word_embeddings.weight", st.Names);
        var logs = new List<string>();
        var classifier = AutoModelForSequenceClassification.FromPretrained(tmp.Path, new FromPretrainedOptions { Rng = new Generator(7), Log = logs.Add }, out var report2);
        Assert.Equal(new[] { "classifier.bias", "classifier.weight" }, report2.NewlyInitialized.OrderBy(s => s, StringComparer.Ordinal));
        Assert.Empty(report2.Unused);
        Assert.Contains(logs, l => l.Contains("newly initialized") && l.Contains("classifier.weight"));
        var output = classifier.Forward(inputs, outputHiddenStates: true);
        Close.Elementwise("pooled via task model", Expected(dir, "pooler_output"), output.PooledOutput!.Span, 1e-5, 1e-4);
        var head = (BertForSequenceClassification)classifier;
        Assert.All(head.Classifier.Bias!.ToArray(), v => Assert.Equal(0f, v));
        float[] w = head.Classifier.Weight.ToArray();
        double std = Math.Sqrt(w.Select(v => (double)v * v).Average());
        Assert.InRange(std, 0.01, 0.03); // normal(0, initializer_range = 0.02)
    }

    [SkippableFact]
    public void ShapeMismatchIsAnErrorUnlessIgnored()
    {
        string dir = GoldenCases.Dir("bert");
        var e = Assert.Throws<FinetuneException>(() => AutoModelForSequenceClassification.FromPretrained(dir, numLabels: 5));
        Assert.Contains("classifier.weight", e.Message);
        Assert.Contains("ignore_mismatched_sizes", e.Message);
        var model = AutoModelForSequenceClassification.FromPretrained(dir, new FromPretrainedOptions { NumLabels = 5, IgnoreMismatchedSizes = true }, out var report);
        Assert.Equal(new[] { "classifier.bias", "classifier.weight" }, report.Mismatched.Select(m => m.Name).OrderBy(s => s, StringComparer.Ordinal));
        Assert.Equal("LABEL_4", model.Config.Id2Label[4]);
        var (inputs, _) = ParityTests.ReadInputs(dir);
        Assert.Equal(new[] { 4, 5 }, model.Forward(inputs).Logits.Shape);
    }

    [SkippableFact]
    public void OldPretrainingCheckpointWithGammaBetaAndNoModelType()
    {
        string dir = GoldenCases.Dir("bert");
        using var tmp = new TempDir();
        var tensors = new List<NamedTensor>();
        using (var st = SafeTensors.Read(Path.Combine(dir, "model.safetensors")))
            foreach (string n in st.Names)
            {
                string renamed = n.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta");
                tensors.Add(new NamedTensor(renamed, st.Info(n).Shape, st.ReadFloat(n)));
            }
        tensors.Add(new NamedTensor("cls.predictions.bias", new[] { 1000 }, new float[1000]));
        tensors.Add(new NamedTensor("bert.embeddings.position_ids", new[] { 1, 64 }, new float[64]));
        SafeTensors.Write(tmp.File("model.safetensors"), tensors);
        var config = PretrainedConfig.ReadJson(Path.Combine(dir, "config.json"));
        config.Remove("model_type");
        config["architectures"] = new JsonArray("BertForPreTraining");
        File.WriteAllText(tmp.File("config.json"), config.ToJsonString());
        var model = AutoModelForSequenceClassification.FromPretrained(tmp.Path, new FromPretrainedOptions(), out var report);
        Assert.IsType<BertForSequenceClassification>(model);
        Assert.Empty(report.NewlyInitialized);
        Assert.Equal(new[] { "cls.predictions.bias" }, report.Unused);
        var (inputs, _) = ParityTests.ReadInputs(dir);
        Close.Elementwise("logits", Expected(dir, "logits"), model.Forward(inputs).Logits.Span, 1e-5, 1e-4);
    }

    [Fact]
    public void MissingWeightsAreAClearError()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), "{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_attention_heads\": 2, \"num_hidden_layers\": 1, \"intermediate_size\": 16, \"vocab_size\": 10}");
        var e = Assert.Throws<FinetuneException>(() => AutoModelForSequenceClassification.FromPretrained(tmp.Path));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("model.safetensors", e.Message);
    }
}

public class XlmRobertaTests
{
    [SkippableFact]
    public void XlmRobertaIsTheRobertaNetworkUnderItsOwnName()
    {
        string dir = GoldenCases.Dir("roberta");
        using var tmp = new TempDir();
        var config = PretrainedConfig.ReadJson(Path.Combine(dir, "config.json"));
        config["model_type"] = "xlm-roberta";
        config["architectures"] = new JsonArray("XLMRobertaForSequenceClassification");
        File.WriteAllText(tmp.File("config.json"), config.ToJsonString());
        File.Copy(Path.Combine(dir, "model.safetensors"), tmp.File("model.safetensors"));
        var model = AutoModelForSequenceClassification.FromPretrained(tmp.Path);
        Assert.IsType<Finetune.Models.Roberta.XLMRobertaConfig>(model.Config);
        Assert.Equal("XLMRobertaForSequenceClassification", model.ArchitectureName);
        var (inputs, _) = ParityTests.ReadInputs(dir);
        using var st = SafeTensors.Read(Path.Combine(dir, "outputs.safetensors"));
        Close.Elementwise("logits", st.ReadFloat("logits"), model.Forward(inputs).Logits.Span, 1e-5, 1e-4);
    }
}

public class ShardedSaveTests
{
    [SkippableFact]
    public void ShardedSaveReloadsAndAResaveReplacesTheShards()
    {
        string dir = GoldenCases.Dir("bert");
        var model = AutoModelForSequenceClassification.FromPretrained(dir);
        using var tmp = new TempDir();
        model.SavePretrained(tmp.Path, maxShardBytes: 100_000);
        Assert.False(File.Exists(tmp.File("model.safetensors")));
        var shards = Directory.GetFiles(tmp.Path, "model-*-of-*.safetensors");
        Assert.True(shards.Length >= 2, $"{shards.Length} shards");
        var sharded = AutoModelForSequenceClassification.FromPretrained(tmp.Path);
        foreach (var ((name, a), (_, b)) in model.NamedParameters().Zip(sharded.NamedParameters()))
            Assert.True(a.Span.SequenceEqual(b.Span), name);

        var tokenizer = Finetune.Tokenizers.AutoTokenizer.FromPretrained(SharedData.Require("models/bert-base-uncased"));
        sharded.SavePretrained(tmp.Path, tokenizer: tokenizer);
        Assert.Empty(Directory.GetFiles(tmp.Path, "model-*-of-*.safetensors"));
        Assert.False(File.Exists(tmp.File("model.safetensors.index.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "model.safetensors")), File.ReadAllBytes(tmp.File("model.safetensors")));
        Assert.Equal(tokenizer.Encode("hello world").InputIds[0], Finetune.Tokenizers.AutoTokenizer.FromPretrained(tmp.Path).Encode("hello world").InputIds[0]);
    }
}
