using Finetune.Models.Bert;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.Albert;

// ALBERT: embeddings of width embedding_size, projected to hidden_size (encoder.embedding_hidden_mapping_in);
// num_hidden_layers layer applications drawn from num_hidden_groups shared groups of inner_group_num layers
// each, so few weights are reused many times; pooler (dense + tanh on the first token) → dropout → classifier.

/// <summary>query/key/value → attention → dense → dropout → LayerNorm(input + ·) (albert_layers.N.attention).</summary>
public sealed class AlbertAttention : SelfAttention
{
    public AlbertAttention(AlbertConfig c, float std, Generator rng)
        : base(c.HiddenSize, c.NumAttentionHeads, c.AttentionProbsDropoutProb, std, rng, ("query", "key", "value"))
    {
        OutputDropout = Register("output_dropout", new Dropout((float)c.HiddenDropoutProb));
        Dense = Register("dense", new Linear(c.HiddenSize, c.HiddenSize, true, std, rng));
        LayerNorm = Register("LayerNorm", new Nn.LayerNorm(c.HiddenSize, (float)c.LayerNormEps));
    }

    public Dropout OutputDropout { get; }
    public Linear Dense { get; }
    public Nn.LayerNorm LayerNorm { get; }

    /// <summary>transformers adds input + projection, in that order.</summary>
    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null) =>
        LayerNorm.AddForward(h, OutputDropout.Forward(Dense.Forward(Attend(h, mask, attentions))));
}

/// <summary>attention, then ffn → activation → ffn_output, then full_layer_layer_norm(· + attention output).</summary>
public sealed class AlbertLayer : Module, IEncoderLayer
{
    private readonly Func<Tensor, Tensor> _act;

    public AlbertLayer(AlbertConfig c, float std, Generator rng)
    {
        _act = Activations.Get(c.HiddenAct);
        FullLayerLayerNorm = Register("full_layer_layer_norm", new Nn.LayerNorm(c.HiddenSize, (float)c.LayerNormEps));
        Attention = Register("attention", new AlbertAttention(c, std, rng));
        Ffn = Register("ffn", new Linear(c.HiddenSize, c.IntermediateSize, true, std, rng));
        FfnOutput = Register("ffn_output", new Linear(c.IntermediateSize, c.HiddenSize, true, std, rng));
    }

    public Nn.LayerNorm FullLayerLayerNorm { get; }
    public AlbertAttention Attention { get; }
    public Linear Ffn { get; }
    public Linear FfnOutput { get; }

    public int FeedForwardWidth => Ffn.OutFeatures;

    public Tensor Attend(Tensor h, IntTensor? mask, List<Tensor>? attentions) => Attention.Forward(h, mask, attentions);

    public Tensor FeedForward(Tensor a) => FullLayerLayerNorm.AddForward(FfnOutput.Forward(_act(Ffn.Forward(a))), a);
}

/// <summary>inner_group_num layers applied in turn (albert_layer_groups.G).</summary>
public sealed class AlbertLayerGroup : Module
{
    public AlbertLayerGroup(AlbertConfig c, float std, Generator rng) =>
        AlbertLayers = Register("albert_layers", new ModuleList<AlbertLayer>(Enumerable.Range(0, c.InnerGroupNum).Select(_ => new AlbertLayer(c, std, rng))));

    public ModuleList<AlbertLayer> AlbertLayers { get; }
}

/// <summary>embedding_hidden_mapping_in, then num_hidden_layers applications of the shared groups (albert.encoder).</summary>
public sealed class AlbertTransformer : Module
{
    private readonly int _layers;
    private readonly int _groups;

    public AlbertTransformer(AlbertConfig c, float std, Generator rng)
    {
        if (c.NumHiddenGroups < 1 || c.NumHiddenGroups > c.NumHiddenLayers)
            throw FinetuneException.Invalid($"num_hidden_groups {c.NumHiddenGroups} must be between 1 and num_hidden_layers {c.NumHiddenLayers}.");
        _layers = c.NumHiddenLayers;
        _groups = c.NumHiddenGroups;
        EmbeddingHiddenMappingIn = Register("embedding_hidden_mapping_in", new Linear(c.EmbeddingSize, c.HiddenSize, true, std, rng));
        AlbertLayerGroups = Register("albert_layer_groups", new ModuleList<AlbertLayerGroup>(Enumerable.Range(0, c.NumHiddenGroups).Select(_ => new AlbertLayerGroup(c, std, rng))));
    }

    public Linear EmbeddingHiddenMappingIn { get; }
    public ModuleList<AlbertLayerGroup> AlbertLayerGroups { get; }

    /// <summary>The group each of the num_hidden_layers applications uses, in order (transformers: int(i / (layers / groups))).</summary>
    public IReadOnlyList<IReadOnlyList<IEncoderLayer>> Applications()
    {
        var steps = new IReadOnlyList<IEncoderLayer>[_layers];
        double layersPerGroup = (double)_layers / _groups;
        for (int i = 0; i < _layers; i++) steps[i] = AlbertLayerGroups[(int)(i / layersPerGroup)].AlbertLayers;
        return steps;
    }
}

/// <summary>The bare ALBERT encoder (AlbertModel) with its pooler.</summary>
public sealed class AlbertModel : EncoderModel
{
    public AlbertModel(AlbertConfig config, bool addPoolingLayer = true, Generator? rng = null) : base(config)
    {
        config.RequireAbsolutePositions();
        float std = (float)config.InitializerRange;
        Generator g = Rng(rng);
        Embeddings = Register("embeddings", new BertEmbeddings(config.VocabSize, config.EmbeddingSize, config.MaxPositionEmbeddings, config.TypeVocabSize,
            config.LayerNormEps, config.HiddenDropoutProb, config.PadTokenId, std, g));
        Encoder = Register("encoder", new AlbertTransformer(config, std, g));
        Pooler = addPoolingLayer ? Register("pooler", new Linear(config.HiddenSize, config.HiddenSize, true, std, g)) : null;
    }

    public new AlbertConfig Config => (AlbertConfig)base.Config;
    public BertEmbeddings Embeddings { get; }
    public AlbertTransformer Encoder { get; }
    public Linear? Pooler { get; }

    public override string ArchitectureName => "AlbertModel";

    protected override Tensor Embed(EncoderInputs inputs) =>
        Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings));

    protected override Linear? EmbeddingProjection => Encoder.EmbeddingHiddenMappingIn;

    protected override IReadOnlyList<IReadOnlyList<IEncoderLayer>> Layers => Encoder.Applications();

    protected override Tensor? Pool(Tensor lastHiddenState) => Pooler != null ? F.Tanh(Pooler.Forward(F.SelectFirstToken(lastHiddenState))) : null;
}

/// <summary>AlbertForSequenceClassification: pooled output → dropout(classifier_dropout_prob) → classifier.</summary>
public sealed class AlbertForSequenceClassification : SequenceClassificationModel
{
    public AlbertForSequenceClassification(AlbertConfig config, Generator? rng = null) : base(config)
    {
        Generator g = Rng(rng);
        Albert = Register("albert", new AlbertModel(config, true, g));
        Dropout = Register("dropout", new Dropout((float)config.ClassifierDropoutProb));
        Classifier = Register("classifier", new Linear(config.HiddenSize, config.NumLabels, true, (float)config.InitializerRange, g));
    }

    public AlbertModel Albert { get; }
    public Dropout Dropout { get; }
    public Linear Classifier { get; }

    public override string ArchitectureName => "AlbertForSequenceClassification";
    public override EncoderModel Encoder => Albert;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(Dropout.Forward(o.PooledOutput!));
}
