using Finetune.Models.Bert;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.Albert;

// ALBERT: embeddings of width embedding_size, projected to hidden_size (encoder.embedding_hidden_mapping_in);
// num_hidden_layers layer applications drawn from num_hidden_groups shared groups of inner_group_num layers
// each, so few weights are reused many times; pooler (dense + tanh on the first token) → dropout → classifier.

/// <summary>query/key/value → attention → dense → dropout → LayerNorm(· + input) (albert_layers.N.attention).</summary>
public sealed class AlbertAttention : Module
{
    private readonly int _heads;
    private readonly float _attentionDropout;

    public AlbertAttention(AlbertConfig c, float std, Generator rng)
    {
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw FinetuneException.Invalid($"hidden_size {c.HiddenSize} is not a multiple of num_attention_heads {c.NumAttentionHeads}.");
        _heads = c.NumAttentionHeads;
        _attentionDropout = (float)c.AttentionProbsDropoutProb;
        Query = Register("query", new Linear(c.HiddenSize, c.HiddenSize, true, std, rng));
        Key = Register("key", new Linear(c.HiddenSize, c.HiddenSize, true, std, rng));
        Value = Register("value", new Linear(c.HiddenSize, c.HiddenSize, true, std, rng));
        OutputDropout = Register("output_dropout", new Dropout((float)c.HiddenDropoutProb));
        Dense = Register("dense", new Linear(c.HiddenSize, c.HiddenSize, true, std, rng));
        LayerNorm = Register("LayerNorm", new Nn.LayerNorm(c.HiddenSize, (float)c.LayerNormEps));
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public Dropout OutputDropout { get; }
    public Linear Dense { get; }
    public Nn.LayerNorm LayerNorm { get; }

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null)
    {
        Tensor context = Context(h, mask, attentions);
        // transformers adds input + projection (in that order); one op forms the sum and normalises it.
        return F.AddLayerNorm(h, OutputDropout.Forward(Dense.Forward(context)), LayerNorm.Weight, LayerNorm.Bias, LayerNorm.Eps);
    }

    /// <summary>Attention over heads, before the output projection.</summary>
    private Tensor Context(Tensor h, IntTensor? mask, List<Tensor>? attentions)
    {
        bool allBiases = Query.Bias != null && Key.Bias != null && Value.Bias != null;
        if (attentions == null && (allBiases || (Query.Bias == null && Key.Bias == null && Value.Bias == null)))
        {
            // One GEMM for the three projections; attention reads the heads from its column blocks.
            Tensor qkv = F.LinearStacked(h, [Query.Weight, Key.Weight, Value.Weight], allBiases ? [Query.Bias!, Key.Bias!, Value.Bias!] : null);
            return F.MultiHeadAttentionPacked(qkv, _heads, mask, _attentionDropout, Training);
        }
        // Separate projections: needed when the attention probabilities are returned.
        Tensor q = Query.Forward(h);
        Tensor k = Key.Forward(h);
        Tensor v = Value.Forward(h);
        attentions?.Add(AttentionWeights.Compute(q, k, _heads, mask));
        return F.MultiHeadAttention(q, k, v, _heads, mask, _attentionDropout, Training);
    }
}

/// <summary>attention, then ffn → activation → ffn_output, then full_layer_layer_norm(· + attention output).</summary>
public sealed class AlbertLayer : Module
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

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null)
    {
        Tensor a = Attention.Forward(h, mask, attentions);
        if (Tensor.IsGradEnabled) return FeedForward(a);
        // Inference: the feed-forward acts on each token alone, so it runs on slices of the tokens (F.ApplyInRowChunks).
        return F.ApplyInRowChunks(a, Ffn.OutFeatures, FeedForward);
    }

    private Tensor FeedForward(Tensor a) =>
        F.AddLayerNorm(FfnOutput.Forward(_act(Ffn.Forward(a))), a, FullLayerLayerNorm.Weight, FullLayerLayerNorm.Bias, FullLayerLayerNorm.Eps);
}

/// <summary>inner_group_num layers applied in turn (albert_layer_groups.G).</summary>
public sealed class AlbertLayerGroup : Module
{
    public AlbertLayerGroup(AlbertConfig c, float std, Generator rng) =>
        AlbertLayers = Register("albert_layers", new ModuleList<AlbertLayer>(Enumerable.Range(0, c.InnerGroupNum).Select(_ => new AlbertLayer(c, std, rng))));

    public ModuleList<AlbertLayer> AlbertLayers { get; }

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null)
    {
        foreach (var layer in AlbertLayers) h = layer.Forward(h, mask, attentions);
        return h;
    }
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

    public Tensor Forward(Tensor embeddings, IntTensor? mask, List<Tensor>? hiddenStates, List<Tensor>? attentions = null)
    {
        Tensor h = EmbeddingHiddenMappingIn.Forward(embeddings);
        hiddenStates?.Add(h);
        double layersPerGroup = (double)_layers / _groups; // transformers: int(i / (layers / groups))
        for (int i = 0; i < _layers; i++)
        {
            var group = AlbertLayerGroups[(int)(i / layersPerGroup)];
            // Every input here (the mapped embeddings, then each layer's output) is an intermediate unless returned.
            h = TensorScope.Stage(h, x => group.Forward(x, mask, attentions), attentions, inputIsIntermediate: hiddenStates == null);
            hiddenStates?.Add(h);
        }
        return h;
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

    public override string BaseModelPrefix => "albert";
    public override string ArchitectureName => "AlbertModel";

    public override EncoderOutput Forward(EncoderInputs inputs, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        var positions = BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings);
        Tensor e = Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, positions);
        var hidden = outputHiddenStates ? new List<Tensor>() : null;
        var attentions = outputAttentions ? new List<Tensor>() : null;
        Tensor h = Encoder.Forward(e, inputs.AttentionMask, hidden, attentions);
        Tensor? pooled = Pooler != null ? F.Tanh(Pooler.Forward(F.SelectFirstToken(h))) : null;
        return new EncoderOutput { LastHiddenState = h, PooledOutput = pooled, HiddenStates = hidden, Attentions = attentions, EmbeddingOutput = e };
    }
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

    public override string BaseModelPrefix => "albert";
    public override string ArchitectureName => "AlbertForSequenceClassification";
    public override EncoderModel Encoder => Albert;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(Dropout.Forward(o.PooledOutput!));
}
