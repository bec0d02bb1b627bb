using System.Text.Json.Nodes;
using Finetune.Models.Bert;

namespace Finetune.Models.Roberta;

/// <summary>RoBERTa's config: BERT's fields with pad 1, bos 0, eos 2 and a 50265-token vocabulary.</summary>
public class RobertaConfig : BertConfig
{
    private static readonly Dictionary<string, JsonNode?> RobertaDefaults = With(new()
    {
        ["vocab_size"] = 50265,
        ["pad_token_id"] = 1,
        ["bos_token_id"] = 0,
        ["eos_token_id"] = 2,
    });

    public RobertaConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "roberta";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => RobertaDefaults;

    /// <summary>The padding index of the position embeddings (= pad_token_id); real tokens start at padding_idx + 1.</summary>
    public int PaddingIdx => PadTokenId ?? 1;
}

/// <summary>XLM-RoBERTa: the RoBERTa architecture; transformers' XLMRobertaConfig keeps BERT's vocab_size default.</summary>
public sealed class XLMRobertaConfig : RobertaConfig
{
    private static readonly Dictionary<string, JsonNode?> XlmDefaults = With(new() { ["pad_token_id"] = 1, ["bos_token_id"] = 0, ["eos_token_id"] = 2 });

    public XLMRobertaConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "xlm-roberta";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => XlmDefaults;
}

/// <summary>CamemBERT: the RoBERTa architecture with BERT's vocab_size default.</summary>
public sealed class CamembertConfig : RobertaConfig
{
    private static readonly Dictionary<string, JsonNode?> CamembertDefaults = With(new() { ["pad_token_id"] = 1, ["bos_token_id"] = 0, ["eos_token_id"] = 2 });

    public CamembertConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "camembert";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => CamembertDefaults;
}
