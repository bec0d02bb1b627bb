using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Tensors;

namespace Finetune.Tests.Models;

/// <summary>The registry rows against transformers' own names: base_model_prefix, class names, position limits.</summary>
public class ModelRegistryTests
{
    private static JsonObject Tiny() => new()
    {
        ["vocab_size"] = 50,
        ["hidden_size"] = 8,
        ["num_hidden_layers"] = 1,
        ["num_attention_heads"] = 2,
        ["intermediate_size"] = 16,
        ["embedding_size"] = 4,
        ["dim"] = 8,
        ["n_layers"] = 1,
        ["n_heads"] = 2,
        ["hidden_dim"] = 16,
        ["max_position_embeddings"] = 40,
        ["pad_token_id"] = 1,
    };

    [Theory]
    [InlineData("bert", "bert", "BertForSequenceClassification", "BertModel")]
    [InlineData("distilbert", "distilbert", "DistilBertForSequenceClassification", "DistilBertModel")]
    [InlineData("roberta", "roberta", "RobertaForSequenceClassification", "RobertaModel")]
    [InlineData("xlm-roberta", "roberta", "XLMRobertaForSequenceClassification", "XLMRobertaModel")]
    [InlineData("camembert", "roberta", "CamembertForSequenceClassification", "CamembertModel")]
    [InlineData("albert", "albert", "AlbertForSequenceClassification", "AlbertModel")]
    [InlineData("electra", "electra", "ElectraForSequenceClassification", "ElectraModel")]
    public void EachRowBuildsTransformersClassesUnderItsBaseModelPrefix(string modelType, string basePrefix, string classifier, string encoder)
    {
        var family = ModelRegistry.Find(modelType)!;
        var config = family.Config(Tiny());
        Assert.Equal(modelType, config.ModelType);
        Assert.Equal(basePrefix, family.BaseModelPrefix);
        var model = AutoModelForSequenceClassification.FromConfig(config, new Generator(0));
        Assert.Equal(classifier, model.ArchitectureName);
        Assert.Equal(basePrefix, model.BaseModelPrefix);
        Assert.All(model.NamedParameters().Where(p => !p.Name.StartsWith("classifier", StringComparison.Ordinal) && !p.Name.StartsWith("pre_classifier", StringComparison.Ordinal)),
            p => Assert.StartsWith(basePrefix + ".", p.Name));
        Assert.Equal(encoder, AutoModel.FromConfig(config, new Generator(0)).ArchitectureName);
        Assert.StartsWith(family.ArchitecturePrefix, classifier);
    }

    [Theory]
    [InlineData("bert", 40)]
    [InlineData("distilbert", 40)]
    [InlineData("albert", 40)]
    [InlineData("electra", 40)]
    [InlineData("roberta", 38)] // positions start at padding_idx + 1 = 2, so 40 rows hold 38 tokens
    [InlineData("xlm-roberta", 38)]
    public void MaxTokensIsWhatThePositionTableHolds(string modelType, int expected)
    {
        var family = ModelRegistry.Find(modelType)!;
        Assert.Equal(expected, family.MaxTokens(family.Config(Tiny())));
    }

    [Fact]
    public void AConfigOfNoRegisteredTypeIsUnsupported()
    {
        var e = Assert.Throws<FinetuneException>(() => ModelRegistry.For(new PretrainedConfig(new JsonObject()), "encoder"));
        Assert.Equal(ErrorKind.Unsupported, e.Kind);
        Assert.Null(ModelRegistry.Find("gpt2"));
    }
}
