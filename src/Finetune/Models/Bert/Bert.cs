using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.Bert;

// BERT, top to bottom: embeddings → encoder (N × [self-attention → add & norm → feed-forward → add & norm]) →
// pooler → classifier. Module names reproduce transformers' parameter paths. RoBERTa and ELECTRA reuse the
// encoder layer; ELECTRA also reuses the embeddings (with width embedding_size).

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

    /// <summary>Sum in transformers' order: (word + token type) + position. The lookups and partial sums are freed once the output exists (a stage).</summary>
    public Tensor Forward(IntTensor inputIds, IntTensor? tokenTypeIds, IntTensor positionIds) => TensorScope.Stage(() =>
    {
        Tensor x = WordEmbeddings.Forward(inputIds);
        if (TokenTypeEmbeddings != null)
            x = F.Add(x, TokenTypeEmbeddings.Forward(tokenTypeIds ?? IntTensor.Zeros(inputIds.Shape)));
        x = F.Add(x, PositionEmbeddings.Forward(positionIds));
        return Dropout.Forward(LayerNorm.Forward(x));
    });

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

/// <summary>query/key/value projections and scaled dot-product attention over heads (attention.self).</summary>
public sealed class BertSelfAttention : Module
{
    private readonly int _heads;
    private readonly float _dropout;

    public BertSelfAttention(int hidden, int heads, double dropout, float std, Generator rng)
    {
        if (hidden % heads != 0) throw FinetuneException.Invalid($"hidden_size {hidden} is not a multiple of num_attention_heads {heads}.");
        _heads = heads;
        _dropout = (float)dropout;
        Query = Register("query", new Linear(hidden, hidden, true, std, rng));
        Key = Register("key", new Linear(hidden, hidden, true, std, rng));
        Value = Register("value", new Linear(hidden, hidden, true, std, rng));
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null)
    {
        bool allBiases = Query.Bias != null && Key.Bias != null && Value.Bias != null;
        if (attentions == null && (allBiases || (Query.Bias == null && Key.Bias == null && Value.Bias == null)))
        {
            // One GEMM for the three projections; attention reads the heads from its column blocks.
            Tensor qkv = F.LinearStacked(h, [Query.Weight, Key.Weight, Value.Weight], allBiases ? [Query.Bias!, Key.Bias!, Value.Bias!] : null);
            return F.MultiHeadAttentionPacked(qkv, _heads, mask, _dropout, Training);
        }
        return Separate(h, mask, attentions);
    }

    /// <summary>Separate projections: needed when the attention probabilities are returned.</summary>
    private Tensor Separate(Tensor h, IntTensor? mask, List<Tensor>? attentions)
    {
        Tensor q = Query.Forward(h);
        Tensor k = Key.Forward(h);
        Tensor v = Value.Forward(h);
        attentions?.Add(AttentionWeights.Compute(q, k, _heads, mask));
        return F.MultiHeadAttention(q, k, v, _heads, mask, _dropout, Training);
    }
}

/// <summary>dense → dropout → LayerNorm(· + residual): attention.output and output of a BERT layer.</summary>
public sealed class BertResidualOutput : Module
{
    public BertResidualOutput(int inFeatures, int hidden, double eps, double dropout, float std, Generator rng)
    {
        Dense = Register("dense", new Linear(inFeatures, hidden, true, std, rng));
        LayerNorm = Register("LayerNorm", new Nn.LayerNorm(hidden, (float)eps));
        Dropout = Register("dropout", new Dropout((float)dropout));
    }

    public Linear Dense { get; }
    public Nn.LayerNorm LayerNorm { get; }
    public Dropout Dropout { get; }

    public Tensor Forward(Tensor x, Tensor residual) =>
        F.AddLayerNorm(Dropout.Forward(Dense.Forward(x)), residual, LayerNorm.Weight, LayerNorm.Bias, LayerNorm.Eps);
}

/// <summary>attention.self + attention.output.</summary>
public sealed class BertAttention : Module
{
    public BertAttention(BertConfig c, float std, Generator rng)
    {
        Self = Register("self", new BertSelfAttention(c.HiddenSize, c.NumAttentionHeads, c.AttentionProbsDropoutProb, std, rng));
        Output = Register("output", new BertResidualOutput(c.HiddenSize, c.HiddenSize, c.LayerNormEps, c.HiddenDropoutProb, std, rng));
    }

    public BertSelfAttention Self { get; }
    public BertResidualOutput Output { get; }

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null) => Output.Forward(Self.Forward(h, mask, attentions), h);
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
public sealed class BertLayer : Module
{
    public BertLayer(BertConfig c, float std, Generator rng)
    {
        Attention = Register("attention", new BertAttention(c, std, rng));
        Intermediate = Register("intermediate", new BertIntermediate(c, std, rng));
        Output = Register("output", new BertResidualOutput(c.IntermediateSize, c.HiddenSize, c.LayerNormEps, c.HiddenDropoutProb, std, rng));
    }

    public BertAttention Attention { get; }
    public BertIntermediate Intermediate { get; }
    public BertResidualOutput Output { get; }

    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? attentions = null)
    {
        Tensor a = Attention.Forward(h, mask, attentions);
        if (Tensor.IsGradEnabled) return Output.Forward(Intermediate.Forward(a), a);
        // Inference: the feed-forward acts on each token alone, so it runs on slices of the tokens (F.ApplyInRowChunks).
        return F.ApplyInRowChunks(a, Intermediate.Dense.OutFeatures, rows => Output.Forward(Intermediate.Forward(rows), rows));
    }
}

/// <summary>encoder.layer.0 … encoder.layer.{N-1}.</summary>
public sealed class BertEncoder : Module
{
    public BertEncoder(BertConfig c, float std, Generator rng)
    {
        Layer = Register("layer", new ModuleList<BertLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new BertLayer(c, std, rng))));
    }

    public ModuleList<BertLayer> Layer { get; }

    /// <summary>Runs every layer; appends each layer's output (and attention probabilities) to the lists given.</summary>
    public Tensor Forward(Tensor h, IntTensor? mask, List<Tensor>? hiddenStates, List<Tensor>? attentions = null)
    {
        Tensor first = h;
        foreach (var layer in Layer)
        {
            // A layer's output is an intermediate unless returned as a hidden state (the encoder's input is the caller's).
            h = TensorScope.Stage(h, x => layer.Forward(x, mask, attentions), attentions, inputIsIntermediate: hiddenStates == null && !ReferenceEquals(h, first));
            hiddenStates?.Add(h);
        }
        return h;
    }
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

    public override string BaseModelPrefix => "bert";
    public override string ArchitectureName => "BertModel";

    public override EncoderOutput Forward(EncoderInputs inputs, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        var positions = BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings);
        Tensor e = Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, positions);
        var hidden = outputHiddenStates ? new List<Tensor> { e } : null;
        var attentions = outputAttentions ? new List<Tensor>() : null;
        Tensor h = Encoder.Forward(e, inputs.AttentionMask, hidden, attentions);
        return new EncoderOutput { LastHiddenState = h, PooledOutput = Pooler?.Forward(h), HiddenStates = hidden, Attentions = attentions, EmbeddingOutput = e };
    }
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

    public override string BaseModelPrefix => "bert";
    public override string ArchitectureName => "BertForSequenceClassification";
    public override EncoderModel Encoder => Bert;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(Dropout.Forward(o.PooledOutput!));
}
