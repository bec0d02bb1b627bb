using System.Text.Json.Nodes;
using Finetune.Models.Bert;

namespace Finetune.Models.Electra;

/// <summary>ELECTRA's config: BERT's fields (small-discriminator sizes by default) plus embedding_size and the summary fields.</summary>
public sealed class ElectraConfig : BertConfig
{
    private static readonly Dictionary<string, JsonNode?> ElectraDefaults = With(new()
    {
        ["embedding_size"] = 128,
        ["hidden_size"] = 256,
        ["num_attention_heads"] = 4,
        ["intermediate_size"] = 1024,
        ["summary_type"] = "first",
        ["summary_use_proj"] = true,
        ["summary_activation"] = "gelu",
        ["summary_last_dropout"] = 0.1,
    });

    public ElectraConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "electra";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => ElectraDefaults;

    public int EmbeddingSize { get => GetInt("embedding_size"); set => Set("embedding_size", value); }

    internal override int EmbeddingWidth => EmbeddingSize;

    internal override string EmbeddingWidthField => "embedding_size";

    protected override void CheckFields()
    {
        base.CheckFields();
        CheckInt("embedding_size", 1);
    }
}
