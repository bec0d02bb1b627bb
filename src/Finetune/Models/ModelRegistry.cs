using System.Text.Json.Nodes;
using Finetune.Models.Albert;
using Finetune.Models.Bert;
using Finetune.Models.DistilBert;
using Finetune.Models.Electra;
using Finetune.Models.Roberta;
using Finetune.Tensors;

namespace Finetune.Models;

/// <summary>
/// What the library knows about one model_type: how to read its config, the architecture class-name prefix of old
/// configs, the encoder's name inside task models, how to build the encoder and the sequence classifier, the longest
/// input its position embeddings allow, and the shapes a checkpoint must show before a model is built.
/// </summary>
public sealed class ModelFamily
{
    internal ModelFamily(string modelType, Func<JsonObject, PretrainedConfig> config, string architecturePrefix, string baseModelPrefix,
        Func<PretrainedConfig, Generator?, EncoderModel> encoder, Func<PretrainedConfig, Generator?, SequenceClassificationModel> sequenceClassification,
        Func<PretrainedConfig, int> maxTokens, Func<PretrainedConfig, CheckpointShape> checkpointShape)
    {
        ModelType = modelType;
        Config = config;
        ArchitecturePrefix = architecturePrefix;
        BaseModelPrefix = baseModelPrefix;
        Encoder = encoder;
        SequenceClassification = sequenceClassification;
        MaxTokens = maxTokens;
        CheckpointShape = checkpointShape;
    }

    public string ModelType { get; }
    public Func<JsonObject, PretrainedConfig> Config { get; }

    /// <summary>"Bert" of BertForSequenceClassification: names the family of a config.json without model_type.</summary>
    public string ArchitecturePrefix { get; }

    /// <summary>The encoder's module name inside task models (transformers' base_model_prefix).</summary>
    public string BaseModelPrefix { get; }

    public Func<PretrainedConfig, Generator?, EncoderModel> Encoder { get; }
    public Func<PretrainedConfig, Generator?, SequenceClassificationModel> SequenceClassification { get; }

    /// <summary>The longest input in tokens the position embeddings allow.</summary>
    public Func<PretrainedConfig, int> MaxTokens { get; }

    /// <summary>What the preflight compares with a checkpoint's tensor headers.</summary>
    public Func<PretrainedConfig, CheckpointShape> CheckpointShape { get; }
}

/// <summary>
/// The word-embedding table a checkpoint must hold, and its layer count with the config field that sets it
/// (LayersField empty when layers are shared and so not counted, as in ALBERT).
/// </summary>
public readonly record struct CheckpointShape(int VocabSize, int EmbeddingWidth, int Layers, string LayersField);

/// <summary>One row per model_type, read by AutoConfig, AutoModel, AutoModelForSequenceClassification and the pipelines.</summary>
public static class ModelRegistry
{
    private static readonly ModelFamily[] Rows =
    [
        Row<BertConfig>("bert", j => new BertConfig(j), "Bert", "bert",
            (c, g) => new BertModel(c, true, g), (c, g) => new BertForSequenceClassification(c, g), c => c.MaxPositionEmbeddings, BertShape),
        Row<DistilBertConfig>("distilbert", j => new DistilBertConfig(j), "DistilBert", "distilbert",
            (c, g) => new DistilBertModel(c, g), (c, g) => new DistilBertForSequenceClassification(c, g), c => c.MaxPositionEmbeddings,
            c => new CheckpointShape(c.VocabSize, c.Dim, c.NLayers, "n_layers")),
        Row<RobertaConfig>("roberta", j => new RobertaConfig(j), "Roberta", "roberta",
            (c, g) => new RobertaModel(c, true, g), (c, g) => new RobertaForSequenceClassification(c, g), RobertaMaxTokens, BertShape),
        Row<XLMRobertaConfig>("xlm-roberta", j => new XLMRobertaConfig(j), "XLMRoberta", "roberta",
            (c, g) => new RobertaModel(c, true, g), (c, g) => new RobertaForSequenceClassification(c, g), RobertaMaxTokens, BertShape),
        Row<CamembertConfig>("camembert", j => new CamembertConfig(j), "Camembert", "roberta",
            (c, g) => new RobertaModel(c, true, g), (c, g) => new RobertaForSequenceClassification(c, g), RobertaMaxTokens, BertShape),
        Row<AlbertConfig>("albert", j => new AlbertConfig(j), "Albert", "albert",
            (c, g) => new AlbertModel(c, true, g), (c, g) => new AlbertForSequenceClassification(c, g), c => c.MaxPositionEmbeddings,
            c => new CheckpointShape(c.VocabSize, c.EmbeddingSize, 0, "")), // shared layers: no per-layer tensors to count
        Row<ElectraConfig>("electra", j => new ElectraConfig(j), "Electra", "electra",
            (c, g) => new ElectraModel(c, g), (c, g) => new ElectraForSequenceClassification(c, g), c => c.MaxPositionEmbeddings, BertShape),
    ];

    /// <summary>Every family, in the order "supported: ..." messages list them.</summary>
    public static IReadOnlyList<ModelFamily> Families => Rows;

    /// <summary>The row of <paramref name="modelType"/>, or null.</summary>
    public static ModelFamily? Find(string modelType)
    {
        foreach (var row in Rows)
            if (row.ModelType == modelType) return row;
        return null;
    }

    /// <summary>The row of the config's model_type; an Unsupported error naming <paramref name="what"/> when there is none.</summary>
    public static ModelFamily For(PretrainedConfig config, string what = "model") =>
        Find(config.ModelType) ?? throw new FinetuneException(ErrorKind.Unsupported, $"No {what} for model_type '{config.ModelType}'.");

    private static int RobertaMaxTokens(RobertaConfig c) => c.MaxPositionEmbeddings - c.PaddingIdx - 1; // positions start after padding_idx

    private static CheckpointShape BertShape(BertConfig c) => new(c.VocabSize, c.EmbeddingWidth, c.NumHiddenLayers, "num_hidden_layers");

    private static ModelFamily Row<T>(string modelType, Func<JsonObject, T> config, string architecturePrefix, string baseModelPrefix,
        Func<T, Generator?, EncoderModel> encoder, Func<T, Generator?, SequenceClassificationModel> sequenceClassification,
        Func<T, int> maxTokens, Func<T, CheckpointShape> checkpointShape) where T : PretrainedConfig =>
        new(modelType, config, architecturePrefix, baseModelPrefix,
            (c, g) => encoder(Typed<T>(c, modelType), g), (c, g) => sequenceClassification(Typed<T>(c, modelType), g),
            c => maxTokens(Typed<T>(c, modelType)), c => checkpointShape(Typed<T>(c, modelType)));

    private static T Typed<T>(PretrainedConfig c, string modelType) where T : PretrainedConfig =>
        c as T ?? throw new FinetuneException(ErrorKind.Unsupported, $"A config of model_type '{modelType}' must be a {typeof(T).Name}, not a {c.GetType().Name}.");
}
