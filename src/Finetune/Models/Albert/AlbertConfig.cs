using System.Text.Json.Nodes;
using Finetune.Models.Bert;

namespace Finetune.Models.Albert;

/// <summary>ALBERT's config: factorised embeddings, shared layer groups, gelu_new, no dropout by default.</summary>
public sealed class AlbertConfig : BertConfig
{
    private static readonly Dictionary<string, JsonNode?> AlbertDefaults = WithoutBertOnly(new()
    {
        ["vocab_size"] = 30000,
        ["embedding_size"] = 128,
        ["hidden_size"] = 4096,
        ["num_hidden_layers"] = 12,
        ["num_hidden_groups"] = 1,
        ["num_attention_heads"] = 64,
        ["intermediate_size"] = 16384,
        ["inner_group_num"] = 1,
        ["hidden_act"] = "gelu_new",
        ["hidden_dropout_prob"] = 0.0,
        ["attention_probs_dropout_prob"] = 0.0,
        ["classifier_dropout_prob"] = 0.1,
        ["pad_token_id"] = 0,
        ["bos_token_id"] = 2,
        ["eos_token_id"] = 3,
    });

    /// <summary>AlbertConfig has no classifier_dropout or use_cache field.</summary>
    private static Dictionary<string, JsonNode?> WithoutBertOnly(Dictionary<string, JsonNode?> changes)
    {
        var d = With(changes);
        d.Remove("classifier_dropout");
        d.Remove("use_cache");
        return d;
    }

    public AlbertConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "albert";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => AlbertDefaults;

    public int EmbeddingSize { get => GetInt("embedding_size"); set => Set("embedding_size", value); }
    public int NumHiddenGroups { get => GetInt("num_hidden_groups"); set => Set("num_hidden_groups", value); }
    public int InnerGroupNum { get => GetInt("inner_group_num"); set => Set("inner_group_num", value); }

    internal override int EmbeddingWidth => EmbeddingSize;

    internal override string EmbeddingWidthField => "embedding_size";

    internal override long DistinctLayers => (long)NumHiddenGroups * InnerGroupNum;

    protected override void CheckFields()
    {
        base.CheckFields();
        CheckInt("embedding_size", 1);
        CheckInt("num_hidden_groups", 1, NumHiddenLayers);
        CheckInt("inner_group_num", 1, InputLimits.MaxHiddenLayers);
        CheckProbability("classifier_dropout_prob");
    }

    /// <summary>ALBERT's head uses classifier_dropout_prob (not classifier_dropout).</summary>
    public double ClassifierDropoutProb { get => GetDouble("classifier_dropout_prob"); set => Set("classifier_dropout_prob", value); }
}
