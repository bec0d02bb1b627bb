using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Albert;
using Finetune.Models.Bert;
using Finetune.Models.DistilBert;
using Finetune.Models.Electra;
using Finetune.Models.Roberta;
using Finetune.Tests.Weights;

namespace Finetune.Tests.Models;

public class ConfigTests
{
    [SkippableTheory]
    [MemberData(nameof(GoldenCases.Names), MemberType = typeof(GoldenCases))]
    public void GoldenConfigsLoadWithTheValuesTheCaseDescribes(string name)
    {
        string dir = GoldenCases.Dir(name);
        var summary = GoldenCases.CaseJson(dir).GetProperty("config_summary");
        var config = AutoConfig.FromPretrained(dir);
        Assert.Equal(summary.GetProperty("model_type").GetString(), config.ModelType);
        var labels = summary.GetProperty("id2label").EnumerateObject().ToDictionary(p => int.Parse(p.Name), p => p.Value.GetString()!);
        Assert.Equal(labels.Count, config.NumLabels);
        Assert.Equal(labels, config.Id2Label);
        foreach (var (id, label) in labels) Assert.Equal(id, config.Label2Id[label]);
        int hidden = summary.TryGetProperty("hidden_size", out var h) ? h.GetInt32() : summary.GetProperty("dim").GetInt32();
        switch (config)
        {
            case BertConfig b:
                Assert.Equal(hidden, b.HiddenSize);
                Assert.Equal(summary.GetProperty("intermediate_size").GetInt32(), b.IntermediateSize);
                Assert.Equal(summary.GetProperty("layer_norm_eps").GetDouble(), b.LayerNormEps);
                Assert.Equal(summary.GetProperty("max_position_embeddings").GetInt32(), b.MaxPositionEmbeddings);
                Assert.Equal(summary.GetProperty("hidden_act").GetString(), b.HiddenAct);
                break;
            case DistilBertConfig d:
                Assert.Equal(hidden, d.Dim);
                Assert.Equal(2, d.NLayers);
                Assert.Equal(4, d.NHeads);
                Assert.Equal(0.2, d.SeqClassifDropout);
                break;
            default:
                Assert.Fail($"unexpected config type {config.GetType().Name}");
                break;
        }
        string? runtime = GoldenCases.CaseJson(dir).GetProperty("problem_type_at_runtime").GetString();
        bool integerLabels = GoldenCases.CaseJson(dir).GetProperty("batch").GetProperty("labels_dtype").GetString() == "int64";
        Assert.Equal(runtime, config.ResolveProblemType(integerLabels));
    }

    [SkippableFact]
    public void AlbertConfigHasAlbertSpecificFields()
    {
        var c = Assert.IsType<AlbertConfig>(AutoConfig.FromPretrained(GoldenCases.Dir("albert")));
        Assert.Equal(16, c.EmbeddingSize);
        Assert.Equal(1, c.NumHiddenGroups);
        Assert.Equal(1, c.InnerGroupNum);
        Assert.Equal(0.1, c.ClassifierDropoutProb);
        var e = Assert.IsType<ElectraConfig>(AutoConfig.FromPretrained(GoldenCases.Dir("electra")));
        Assert.Equal(16, e.EmbeddingSize);
        var r = Assert.IsType<CamembertConfig>(AutoConfig.FromPretrained(GoldenCases.Dir("camembert")));
        Assert.Equal(1, r.PaddingIdx);
    }

    [Fact]
    public void EmptyConfigsGetTransformersDefaults()
    {
        var bert = new BertConfig();
        Assert.Equal((30522, 768, 12, 12, 3072, "gelu", 512, 1e-12), (bert.VocabSize, bert.HiddenSize, bert.NumHiddenLayers, bert.NumAttentionHeads, bert.IntermediateSize, bert.HiddenAct, bert.MaxPositionEmbeddings, bert.LayerNormEps));
        Assert.Equal(2, bert.NumLabels);
        Assert.Equal("LABEL_1", bert.Id2Label[1]);
        Assert.Null(bert.ClassifierDropout);
        Assert.Equal(0.1, bert.ClassifierDropoutOrHidden);
        Assert.Equal(50265, new RobertaConfig().VocabSize);
        Assert.Equal(30522, new XLMRobertaConfig().VocabSize);
        Assert.Equal(1, new XLMRobertaConfig().PadTokenId);
        var albert = new AlbertConfig();
        Assert.Equal(("gelu_new", 128, 4096, 0.0, 30000), (albert.HiddenAct, albert.EmbeddingSize, albert.HiddenSize, albert.HiddenDropoutProb, albert.VocabSize));
        var electra = new ElectraConfig();
        Assert.Equal((128, 256, 4, 1024), (electra.EmbeddingSize, electra.HiddenSize, electra.NumAttentionHeads, electra.IntermediateSize));
        var distil = new DistilBertConfig();
        Assert.Equal((768, 6, 12, 3072, "gelu", 0.2, 0.1), (distil.Dim, distil.NLayers, distil.NHeads, distil.HiddenDim, distil.Activation, distil.SeqClassifDropout, distil.QaDropout));
    }

    [Fact]
    public void NumLabelsWithoutId2LabelAndOverrides()
    {
        var c = new BertConfig(new JsonObject { ["num_labels"] = 5 });
        Assert.Equal(5, c.NumLabels);
        Assert.Equal("LABEL_4", c.Id2Label[4]);
        Assert.Equal(4, c.Label2Id["LABEL_4"]);
        Assert.False(c.ToJson().ContainsKey("num_labels"));
        var named = new BertConfig(new JsonObject { ["id2label"] = new JsonObject { ["0"] = "neg", ["1"] = "pos" } });
        Assert.Equal(1, named.Label2Id["pos"]); // label2id derived from id2label
        named.NumLabels = 2;
        Assert.Equal("pos", named.Id2Label[1]); // same count keeps the names
        named.NumLabels = 3;
        Assert.Equal("LABEL_1", named.Id2Label[1]); // a new count resets them
    }

    [Fact]
    public void ProblemTypeRule()
    {
        Assert.Equal(ProblemTypes.Regression, ProblemTypes.Infer(1, integerLabels: false));
        Assert.Equal(ProblemTypes.Regression, ProblemTypes.Infer(1, integerLabels: true));
        Assert.Equal(ProblemTypes.SingleLabel, ProblemTypes.Infer(3, integerLabels: true));
        Assert.Equal(ProblemTypes.MultiLabel, ProblemTypes.Infer(3, integerLabels: false));
        var set = new BertConfig(new JsonObject { ["problem_type"] = "multi_label_classification" });
        Assert.Equal(ProblemTypes.MultiLabel, set.ResolveProblemType(integerLabels: true));
        Assert.Throws<FinetuneException>(() => new BertConfig(new JsonObject { ["problem_type"] = "ranking" }));
    }

    [SkippableTheory]
    [InlineData("models/albert-base-v2")]
    [InlineData("models/camembert-base")]
    [InlineData("models/all-MiniLM-L6-v2")]
    [InlineData("golden/models/distilbert")]
    public void SavingKeepsEveryOriginalFieldUnchanged(string relative)
    {
        string dir = SharedData.Require(relative);
        var original = PretrainedConfig.ReadJson(Path.Combine(dir, "config.json"));
        var config = AutoConfig.FromPretrained(dir);
        using var tmp = new TempDir();
        config.SavePretrained(tmp.Path);
        var saved = PretrainedConfig.ReadJson(tmp.File("config.json"));
        foreach (var (key, value) in original)
            Assert.True(JsonNode.DeepEquals(value, saved[key]), $"field {key}: {value?.ToJsonString()} became {saved[key]?.ToJsonString()}");
        Assert.Equal(saved.Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal), saved.Select(kv => kv.Key));
        var again = AutoConfig.FromPretrained(tmp.Path);
        Assert.Equal(config.ToJsonString(), again.ToJsonString());
    }

    [Fact]
    public void OldConfigsWithoutModelTypeAreRecognised()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), "{\"architectures\": [\"RobertaForMaskedLM\"], \"hidden_size\": 64}");
        Assert.IsType<RobertaConfig>(AutoConfig.FromPretrained(tmp.Path));
        string named = Path.Combine(tmp.Path, "my-distilbert-checkpoint");
        Directory.CreateDirectory(named);
        File.WriteAllText(Path.Combine(named, "config.json"), "{\"dim\": 64}");
        var d = Assert.IsType<DistilBertConfig>(AutoConfig.FromPretrained(named));
        Assert.Equal(64, d.Dim);
        Assert.Equal("distilbert", d.ToJson()["model_type"]!.GetValue<string>());
    }

    [Fact]
    public void BadConfigsAreClearErrors()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), "{\"model_type\": \"bert\",\n \"hidden_size\": }");
        var e = Assert.Throws<FinetuneException>(() => AutoConfig.FromPretrained(tmp.Path));
        Assert.Contains("line 2", e.Message);
        File.WriteAllText(tmp.File("config.json"), "{\"model_type\": \"gpt2\"}");
        Assert.Equal(ErrorKind.Unsupported, Assert.Throws<FinetuneException>(() => AutoConfig.FromPretrained(tmp.Path)).Kind);
        File.WriteAllText(tmp.File("config.json"), "{\"model_type\": \"bert\", \"hidden_size\": \"big\"}");
        Assert.Contains("hidden_size", Assert.Throws<FinetuneException>(() => ((BertConfig)AutoConfig.FromPretrained(tmp.Path)).HiddenSize).Message);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<FinetuneException>(() => AutoConfig.FromPretrained(tmp.File("nope"))).Kind);
    }
}
