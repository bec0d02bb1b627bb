using System.Text.Json.Nodes;

namespace Finetune.Models.DistilBert;

/// <summary>DistilBERT's config, with its own field names (dim, n_layers, n_heads, hidden_dim, activation).</summary>
public sealed class DistilBertConfig : PretrainedConfig
{
    private static readonly Dictionary<string, JsonNode?> DistilDefaults = new()
    {
        ["vocab_size"] = 30522,
        ["max_position_embeddings"] = 512,
        ["sinusoidal_pos_embds"] = false,
        ["n_layers"] = 6,
        ["n_heads"] = 12,
        ["dim"] = 768,
        ["hidden_dim"] = 3072,
        ["dropout"] = 0.1,
        ["attention_dropout"] = 0.1,
        ["activation"] = "gelu",
        ["initializer_range"] = 0.02,
        ["qa_dropout"] = 0.1,
        ["seq_classif_dropout"] = 0.2,
        ["pad_token_id"] = 0,
    };

    public DistilBertConfig(JsonObject? values = null) : base(values)
    {
    }

    public override string ModelType => "distilbert";

    protected override IReadOnlyDictionary<string, JsonNode?> Defaults => DistilDefaults;

    public int VocabSize { get => GetInt("vocab_size"); set => Set("vocab_size", value); }
    public int MaxPositionEmbeddings { get => GetInt("max_position_embeddings"); set => Set("max_position_embeddings", value); }
    public bool SinusoidalPosEmbds => GetBool("sinusoidal_pos_embds");
    public int NLayers { get => GetInt("n_layers"); set => Set("n_layers", value); }
    public int NHeads { get => GetInt("n_heads"); set => Set("n_heads", value); }
    public int Dim { get => GetInt("dim"); set => Set("dim", value); }
    public int HiddenDim { get => GetInt("hidden_dim"); set => Set("hidden_dim", value); }
    public double Dropout { get => GetDouble("dropout"); set => Set("dropout", value); }
    public double AttentionDropout { get => GetDouble("attention_dropout"); set => Set("attention_dropout", value); }
    public string Activation { get => GetString("activation") ?? "gelu"; set => Set("activation", value); }
    public double QaDropout => GetDouble("qa_dropout");
    public double SeqClassifDropout { get => GetDouble("seq_classif_dropout"); set => Set("seq_classif_dropout", value); }

    protected override string SizeFields => "vocab_size, dim, hidden_dim, n_layers, max_position_embeddings";

    protected override void CheckFields()
    {
        base.CheckFields();
        CheckInt("vocab_size", 1);
        CheckInt("dim", 1);
        CheckInt("n_layers", 1, InputLimits.MaxHiddenLayers);
        CheckInt("n_heads", 1);
        CheckInt("hidden_dim", 1);
        CheckInt("max_position_embeddings", 1);
        CheckProbability("dropout");
        CheckProbability("attention_dropout");
        CheckProbability("qa_dropout");
        CheckProbability("seq_classif_dropout");
    }

    public override void CheckBuildable()
    {
        if (Dim % NHeads != 0) throw FieldError($"config field 'n_heads' is {NHeads}, which does not divide dim {Dim}.");
    }

    protected override long ParameterCount()
    {
        long d = Dim, f = HiddenDim;
        long embeddings = Matrix("vocab_size × dim", VocabSize, d) + Matrix("max_position_embeddings × dim", MaxPositionEmbeddings, d) + 2 * d;
        long layer = 4 * (Matrix("dim × dim", d, d) + d) + 2 * Matrix("dim × hidden_dim", d, f) + f + 5 * d;
        long head = d * d + d + d * NumLabels + NumLabels;
        return checked(embeddings + NLayers * layer + head);
    }

    /// <summary>transformers' attribute_map aliases.</summary>
    public int HiddenSize => Dim;
    public int NumHiddenLayers => NLayers;
    public int NumAttentionHeads => NHeads;
}
