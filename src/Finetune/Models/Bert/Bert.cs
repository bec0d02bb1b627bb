using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.Bert;

// BERT, top to bottom: embeddings → encoder (N × [self-attention → add & norm → feed-forward → add & norm]) →
// pooler → classifier. Module names reproduce transformers' parameter paths; EncoderStack runs the parts.
// RoBERTa and ELECTRA reuse the encoder layer; ELECTRA also reuses the embeddings (with width embedding_size).

/// <summary>word + token type + position embeddings, LayerNorm, dropout (bert.embeddings).</summary>
public sealed class BertEmbeddings : Module
{
    /// <param name="positionPaddingIdx">RoBERTa's position table has a padding row (no gradient, starts at zero); BERT's has none.</param>
    public BertEmbeddings(int vocabSize, int dim, int maxPositions, int typeVocabSize, double eps, double dropout, int? padTokenId, float std, Generator rng,
        int? positionPaddingIdx = null)
    {
        WordEmbeddings = Register("word_embeddings", new Embedding(vocabSize, dim, PadIndex(padTokenId, vocabSize), std, rng));
        PositionEmbeddings = Register("position_embeddings", new Embedding(maxPositions, dim, PadIndex(positionPaddingIdx, maxPositions), std, rng));
        TokenTypeEmbeddings = typeVocabSize > 0 ? Register("token_type_embeddings", new Embedding(typeVocabSize, dim, null, std, rng)) : null;
        LayerNorm = Register("LayerNorm", new Nn.LayerNorm(dim, (float)eps));
        Dropout = Register("dropout", new Dropout((float)dropout));
    }

    public Embedding WordEmbeddings { get; }
    public Embedding PositionEmbeddings { get; }
    public Embedding? TokenTypeEmbeddings { get; }
    public Nn.LayerNorm LayerNorm { get; }
    public Dropout Dropout { get; }

    /// <summary>Sum in transformers' order: (word + token type) + position.</summary>
    public Tensor Forward(IntTensor inputIds, IntTensor? tokenTypeIds, IntTensor positionIds)
    {
        Tensor x = WordEmbeddings.Forward(inputIds);
        if (TokenTypeEmbeddings != null)
            x = F.Add(x, TokenTypeEmbeddings.Forward(tokenTypeIds ?? IntTensor.Zeros(inputIds.Shape)));
        x = F.Add(x, PositionEmbeddings.Forward(positionIds));
        return Dropout.Forward(LayerNorm.Forward(x));
    }

    /// <summary>Positions 0..T-1 (shape [T], added to every row).</summary>
    public static IntTensor ArangePositions(int seqLen, int maxPositions)
    {
        if (seqLen > maxPositions)
            throw FinetuneException.Invalid($"The input has {seqLen} tokens but the model has only {maxPositions} position embeddings; truncate to max_position_embeddings.");
        var ids = new int[seqLen];
        for (int i = 0; i < seqLen; i++) ids[i] = i;
        return IntTensor.FromArray(ids, seqLen);
    }

    /// <summary>nn.Embedding takes padding_idx only inside the table; an out-of-range pad id means none.</summary>
    internal static int? PadIndex(int? pad, int vocab) => pad is int p && p >= 0 && p < vocab ? p : null;
}

/// <summary>attention.self + attention.output.</summary>
public sealed class BertAttention : Module
{
    public BertAttention(BertConfig c, float std, Generator rng)
    {
        Self = Register("self", new SelfAttention(c.HiddenSize, c.NumAttentionHeads, c.AttentionProbsDropoutProb, std, rng, ("query", "key", "value")));
        Output = Register("output", new AddNorm(c.HiddenSize, c.HiddenSize, c.LayerNormEps, c.HiddenDropoutProb, std, rng));
    }

    public SelfAttention Self { get; }
    public AddNorm Output { get; }

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null) => Output.Forward(Self.Attend(h, mask, attentions), h);
}

/// <summary>The feed-forward expansion: intermediate.dense + activation.</summary>
public sealed class BertIntermediate : Module
{
    private readonly Func<Tensor, Tensor> _act;

    public BertIntermediate(BertConfig c, float std, Generator rng)
    {
        _act = Activations.Get(c.HiddenAct);
        Dense = Register("dense", new Linear(c.HiddenSize, c.IntermediateSize, true, std, rng));
    }

    public Linear Dense { get; }

    public Tensor Forward(Tensor x) => _act(Dense.Forward(x));
}

/// <summary>One encoder layer (encoder.layer.N).</summary>
public sealed class BertLayer : Module, IEncoderLayer
{
    public BertLayer(BertConfig c, float std, Generator rng)
    {
        Attention = Register("attention", new BertAttention(c, std, rng));
        Intermediate = Register("intermediate", new BertIntermediate(c, std, rng));
        Output = Register("output", new AddNorm(c.IntermediateSize, c.HiddenSize, c.LayerNormEps, c.HiddenDropoutProb, std, rng));
    }

    public BertAttention Attention { get; }
    public BertIntermediate Intermediate { get; }
    public AddNorm Output { get; }

    public int FeedForwardWidth => Intermediate.Dense.OutFeatures;

    public Tensor Attend(Tensor h, IntTensor? mask, List<Tensor>? attentions) => Attention.Forward(h, mask, attentions);

    public Tensor FeedForward(Tensor a) => Output.Forward(Intermediate.Forward(a), a);
}

/// <summary>encoder.layer.0 … encoder.layer.{N-1}.</summary>
public sealed class BertEncoder : Module
{
    public BertEncoder(BertConfig c, float std, Generator rng)
    {
        Layer = Register("layer", new ModuleList<BertLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new BertLayer(c, std, rng))));
    }

    public ModuleList<BertLayer> Layer { get; }
}

/// <summary>tanh(dense(h[:, 0])) — the [CLS] summary (pooler).</summary>
public sealed class BertPooler : Module
{
    public BertPooler(int hidden, float std, Generator rng) => Dense = Register("dense", new Linear(hidden, hidden, true, std, rng));

    public Linear Dense { get; }

    public Tensor Forward(Tensor h) => F.Tanh(Dense.Forward(F.SelectFirstToken(h)));
}

/// <summary>The bare BERT encoder (BertModel): embeddings, encoder, optional pooler.</summary>
public sealed class BertModel : EncoderModel
{
    public BertModel(BertConfig config, bool addPoolingLayer = true, Generator? rng = null) : base(config)
    {
        config.RequireAbsolutePositions();
        float std = (float)config.InitializerRange;
        Generator g = Rng(rng);
        Embeddings = Register("embeddings", new BertEmbeddings(config.VocabSize, config.HiddenSize, config.MaxPositionEmbeddings, config.TypeVocabSize,
            config.LayerNormEps, config.HiddenDropoutProb, config.PadTokenId, std, g));
        Encoder = Register("encoder", new BertEncoder(config, std, g));
        Pooler = addPoolingLayer ? Register("pooler", new BertPooler(config.HiddenSize, std, g)) : null;
    }

    public new BertConfig Config => (BertConfig)base.Config;
    public BertEmbeddings Embeddings { get; }
    public BertEncoder Encoder { get; }
    public BertPooler? Pooler { get; }

    public override string ArchitectureName => "BertModel";

    protected override Tensor Embed(EncoderInputs inputs) =>
        Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings));

    protected override IReadOnlyList<IReadOnlyList<IEncoderLayer>> Layers => EncoderStack.OnePerStep(Encoder.Layer);

    protected override Tensor? Pool(Tensor lastHiddenState) => Pooler?.Forward(lastHiddenState);
}

/// <summary>BertForSequenceClassification: pooled output → dropout → classifier.</summary>
public sealed class BertForSequenceClassification : SequenceClassificationModel
{
    public BertForSequenceClassification(BertConfig config, Generator? rng = null) : base(config)
    {
        Generator g = Rng(rng);
        Bert = Register("bert", new BertModel(config, true, g));
        Dropout = Register("dropout", new Dropout((float)config.ClassifierDropoutOrHidden));
        Classifier = Register("classifier", new Linear(config.HiddenSize, config.NumLabels, true, (float)config.InitializerRange, g));
    }

    public BertModel Bert { get; }
    public Dropout Dropout { get; }
    public Linear Classifier { get; }

    public override string ArchitectureName => "BertForSequenceClassification";
    public override EncoderModel Encoder => Bert;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(Dropout.Forward(o.PooledOutput!));
}
