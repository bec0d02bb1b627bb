using System.Text.Json.Nodes;

namespace Finetune.Models.Bert;

/// <summary>config.json of BERT, and the fields RoBERTa, ELECTRA and ALBERT share with it (transformers' BertConfig defaults).</summary>
public class BertConfig : PretrainedConfig
{
    private static readonly Dictionary<string, JsonNode?> BertDefaults = new()
    {
        ["vocab_size"] = 30522,
        ["hidden_size"] = 768,
        ["num_hidden_layers"] = 12,
        ["num_attention_heads"] = 12,
        ["intermediate_size"] = 3072,
        ["hidden_act"] = "gelu",
        ["hidden_dropout_prob"] = 0.1,
        ["attention_probs_dropout_prob"] = 0.1,
        ["max_position_embeddings"] = 512,
        ["type_vocab_size"] = 2,
        ["initializer_range"] = 0.02,
        ["layer_norm_eps"] = 1e-12,
        ["pad_token_id"] = 0,
        ["position_embedding_type"] = "absolute",
        ["use_cache"] = true,
        ["classifier_dropout"] = null,
    };

    public BertConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "bert";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => BertDefaults;

    public int VocabSize { get => GetInt("vocab_size"); set => Set("vocab_size", value); }
    public int HiddenSize { get => GetInt("hidden_size"); set => Set("hidden_size", value); }
    public int NumHiddenLayers { get => GetInt("num_hidden_layers"); set => Set("num_hidden_layers", value); }
    public int NumAttentionHeads { get => GetInt("num_attention_heads"); set => Set("num_attention_heads", value); }
    public int IntermediateSize { get => GetInt("intermediate_size"); set => Set("intermediate_size", value); }
    public string HiddenAct { get => GetString("hidden_act") ?? "gelu"; set => Set("hidden_act", value); }
    public double HiddenDropoutProb { get => GetDouble("hidden_dropout_prob"); set => Set("hidden_dropout_prob", value); }
    public double AttentionProbsDropoutProb { get => GetDouble("attention_probs_dropout_prob"); set => Set("attention_probs_dropout_prob", value); }
    public int MaxPositionEmbeddings { get => GetInt("max_position_embeddings"); set => Set("max_position_embeddings", value); }
    public int TypeVocabSize { get => GetInt("type_vocab_size"); set => Set("type_vocab_size", value); }
    public double LayerNormEps { get => GetDouble("layer_norm_eps"); set => Set("layer_norm_eps", value); }
    public string PositionEmbeddingType => GetString("position_embedding_type") ?? "absolute";

    /// <summary>Dropout before the classifier: classifier_dropout when set, else hidden_dropout_prob.</summary>
    public double? ClassifierDropout { get => GetNullableDouble("classifier_dropout"); set => Set("classifier_dropout", value); }

    public double ClassifierDropoutOrHidden => ClassifierDropout ?? HiddenDropoutProb;

    /// <summary>Width of the token embeddings (hidden_size; ALBERT and ELECTRA factorise it into embedding_size).</summary>
    internal virtual int EmbeddingWidth => HiddenSize;

    /// <summary>The field <see cref="EmbeddingWidth"/> comes from, for messages.</summary>
    internal virtual string EmbeddingWidthField => "hidden_size";

    /// <summary>Distinct layers holding weights (ALBERT shares one set of layers across the depth).</summary>
    internal virtual long DistinctLayers => NumHiddenLayers;

    protected override string SizeFields => "vocab_size, hidden_size, intermediate_size, num_hidden_layers, max_position_embeddings";

    protected override void CheckFields()
    {
        base.CheckFields();
        CheckInt("vocab_size", 1);
        CheckInt("hidden_size", 1);
        CheckInt("num_hidden_layers", 1, InputLimits.MaxHiddenLayers);
        CheckInt("num_attention_heads", 1);
        CheckInt("intermediate_size", 1);
        CheckInt("max_position_embeddings", 1);
        CheckInt("type_vocab_size", 1);
        CheckProbability("hidden_dropout_prob");
        CheckProbability("attention_probs_dropout_prob");
        CheckProbability("classifier_dropout");
    }

    public override void CheckBuildable()
    {
        if (HiddenSize % NumAttentionHeads != 0)
            throw FieldError($"config field 'num_attention_heads' is {NumAttentionHeads}, which does not divide hidden_size {HiddenSize}.");
    }

    protected override long ParameterCount()
    {
        long e = EmbeddingWidth, h = HiddenSize, i = IntermediateSize;
        long embeddings = Matrix($"vocab_size × {EmbeddingWidthField}", VocabSize, e) + Matrix($"max_position_embeddings × {EmbeddingWidthField}", MaxPositionEmbeddings, e)
            + Matrix($"type_vocab_size × {EmbeddingWidthField}", TypeVocabSize, e) + 2 * e;
        if (e != h) embeddings += Matrix($"{EmbeddingWidthField} × hidden_size", e, h) + h;
        long layer = 4 * (Matrix("hidden_size × hidden_size", h, h) + h) + 2 * Matrix("hidden_size × intermediate_size", h, i) + i + 5 * h;
        long head = h * h + h + h * NumLabels + NumLabels;
        return checked(embeddings + DistinctLayers * layer + head);
    }

    /// <summary>Only absolute position embeddings are implemented; say so up front rather than compute something else.</summary>
    internal void RequireAbsolutePositions()
    {
        if (PositionEmbeddingType != "absolute")
            throw new FinetuneException(ErrorKind.Unsupported, $"position_embedding_type '{PositionEmbeddingType}' is not supported (only 'absolute').");
    }

    /// <summary>Defaults of a subclass: BERT's, overridden by <paramref name="changes"/>.</summary>
    protected static Dictionary<string, JsonNode?> With(Dictionary<string, JsonNode?> changes)
    {
        var d = BertDefaults.ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone());
        foreach (var (k, v) in changes) d[k] = v;
        return d;
    }
}
