using Finetune.Models.Bert;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.DistilBert;

// DistilBERT: word + position embeddings (no token types), n_layers transformer blocks
// (attention → sa_layer_norm, ffn → output_layer_norm), no pooler. The classifier reads the first token:
// pre_classifier → ReLU → dropout(seq_classif_dropout) → classifier. Every LayerNorm uses eps 1e-12.

/// <summary>word + position embeddings, LayerNorm, dropout (distilbert.embeddings).</summary>
public sealed class DistilBertEmbeddings : Module
{
    private const float Eps = 1e-12f;

    public DistilBertEmbeddings(DistilBertConfig c, float std, Generator rng)
    {
        WordEmbeddings = Register("word_embeddings", new Embedding(c.VocabSize, c.Dim, BertEmbeddings.PadIndex(c.PadTokenId, c.VocabSize), std, rng));
        PositionEmbeddings = Register("position_embeddings", new Embedding(c.MaxPositionEmbeddings, c.Dim, null, std, rng));
        if (c.SinusoidalPosEmbds)
        {
            FillSinusoidal(PositionEmbeddings.Weight.Span, c.MaxPositionEmbeddings, c.Dim);
            PositionEmbeddings.Weight.RequiresGrad = false; // a fixed table, as in transformers
        }
        LayerNorm = Register("LayerNorm", new Nn.LayerNorm(c.Dim, Eps));
        Dropout = Register("dropout", new Dropout((float)c.Dropout));
    }

    public Embedding WordEmbeddings { get; }
    public Embedding PositionEmbeddings { get; }
    public Nn.LayerNorm LayerNorm { get; }
    public Dropout Dropout { get; }

    public Tensor Forward(IntTensor inputIds, IntTensor positions) =>
        Dropout.Forward(LayerNorm.Forward(F.Add(WordEmbeddings.Forward(inputIds), PositionEmbeddings.Forward(positions))));

    /// <summary>Fixed table sin(pos/10000^(2j/dim)) in even columns, cos in odd ones (sinusoidal_pos_embds).</summary>
    private static void FillSinusoidal(Span<float> table, int positions, int dim)
    {
        for (int pos = 0; pos < positions; pos++)
            for (int j = 0; j < dim; j++)
            {
                double angle = pos / Math.Pow(10000, 2.0 * (j / 2) / dim);
                table[pos * dim + j] = (float)(j % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle));
            }
    }
}

/// <summary>q_lin/k_lin/v_lin → attention over heads → out_lin.</summary>
public sealed class MultiHeadSelfAttention : Module
{
    private readonly int _heads;
    private readonly float _dropout;

    public MultiHeadSelfAttention(DistilBertConfig c, float std, Generator rng)
    {
        if (c.Dim % c.NHeads != 0) throw FinetuneException.Invalid($"dim {c.Dim} is not a multiple of n_heads {c.NHeads}.");
        _heads = c.NHeads;
        _dropout = (float)c.AttentionDropout;
        QLin = Register("q_lin", new Linear(c.Dim, c.Dim, true, std, rng));
        KLin = Register("k_lin", new Linear(c.Dim, c.Dim, true, std, rng));
        VLin = Register("v_lin", new Linear(c.Dim, c.Dim, true, std, rng));
        OutLin = Register("out_lin", new Linear(c.Dim, c.Dim, true, std, rng));
    }

    public Linear QLin { get; }
    public Linear KLin { get; }
    public Linear VLin { get; }
    public Linear OutLin { get; }

    public Tensor Forward(Tensor x, IntTensor? mask, List<Tensor>? attentions = null)
    {
        bool allBiases = QLin.Bias != null && KLin.Bias != null && VLin.Bias != null;
        if (attentions == null && (allBiases || (QLin.Bias == null && KLin.Bias == null && VLin.Bias == null)))
        {
            // One GEMM for the three projections; attention reads the heads from its column blocks.
            Tensor qkv = F.LinearStacked(x, [QLin.Weight, KLin.Weight, VLin.Weight], allBiases ? [QLin.Bias!, KLin.Bias!, VLin.Bias!] : null);
            return OutLin.Forward(F.MultiHeadAttentionPacked(qkv, _heads, mask, _dropout, Training));
        }
        return OutLin.Forward(Separate(x, mask, attentions));
    }

    /// <summary>Separate projections: needed when the attention probabilities are returned.</summary>
    private Tensor Separate(Tensor x, IntTensor? mask, List<Tensor>? attentions)
    {
        Tensor q = QLin.Forward(x);
        Tensor k = KLin.Forward(x);
        Tensor v = VLin.Forward(x);
        attentions?.Add(AttentionWeights.Compute(q, k, _heads, mask));
        return F.MultiHeadAttention(q, k, v, _heads, mask, _dropout, Training);
    }
}

/// <summary>lin1 → activation → lin2 → dropout.</summary>
public sealed class FFN : Module
{
    private readonly Func<Tensor, Tensor> _act;

    public FFN(DistilBertConfig c, float std, Generator rng)
    {
        _act = Activations.Get(c.Activation);
        Dropout = Register("dropout", new Dropout((float)c.Dropout));
        Lin1 = Register("lin1", new Linear(c.Dim, c.HiddenDim, true, std, rng));
        Lin2 = Register("lin2", new Linear(c.HiddenDim, c.Dim, true, std, rng));
    }

    public Dropout Dropout { get; }
    public Linear Lin1 { get; }
    public Linear Lin2 { get; }

    public Tensor Forward(Tensor x) => Dropout.Forward(Lin2.Forward(_act(Lin1.Forward(x))));
}

/// <summary>One block (transformer.layer.N).</summary>
public sealed class TransformerBlock : Module
{
    public TransformerBlock(DistilBertConfig c, float std, Generator rng)
    {
        Attention = Register("attention", new MultiHeadSelfAttention(c, std, rng));
        SaLayerNorm = Register("sa_layer_norm", new Nn.LayerNorm(c.Dim, 1e-12f));
        Ffn = Register("ffn", new FFN(c, std, rng));
        OutputLayerNorm = Register("output_layer_norm", new Nn.LayerNorm(c.Dim, 1e-12f));
    }

    public MultiHeadSelfAttention Attention { get; }
    public Nn.LayerNorm SaLayerNorm { get; }
    public FFN Ffn { get; }
    public Nn.LayerNorm OutputLayerNorm { get; }

    public Tensor Forward(Tensor x, IntTensor? mask, List<Tensor>? attentions = null)
    {
        // LayerNorm(sublayer + input) as one op each; the FFN's dropout stays inside Ffn, before the add.
        Tensor sa = F.AddLayerNorm(Attention.Forward(x, mask, attentions), x, SaLayerNorm.Weight, SaLayerNorm.Bias, SaLayerNorm.Eps);
        if (Tensor.IsGradEnabled) return FeedForward(sa);
        // Inference: the feed-forward acts on each token alone, so it runs on slices of the tokens (F.ApplyInRowChunks).
        return F.ApplyInRowChunks(sa, Ffn.Lin1.OutFeatures, FeedForward);
    }

    private Tensor FeedForward(Tensor sa) => F.AddLayerNorm(Ffn.Forward(sa), sa, OutputLayerNorm.Weight, OutputLayerNorm.Bias, OutputLayerNorm.Eps);
}

/// <summary>transformer.layer.0 … transformer.layer.{n_layers-1}.</summary>
public sealed class Transformer : Module
{
    public Transformer(DistilBertConfig c, float std, Generator rng) =>
        Layer = Register("layer", new ModuleList<TransformerBlock>(Enumerable.Range(0, c.NLayers).Select(_ => new TransformerBlock(c, std, rng))));

    public ModuleList<TransformerBlock> Layer { get; }
}

/// <summary>The bare DistilBERT encoder (DistilBertModel).</summary>
public sealed class DistilBertModel : EncoderModel
{
    public DistilBertModel(DistilBertConfig config, Generator? rng = null) : base(config)
    {
        float std = (float)config.InitializerRange;
        Generator g = Rng(rng);
        Embeddings = Register("embeddings", new DistilBertEmbeddings(config, std, g));
        Transformer = Register("transformer", new Transformer(config, std, g));
    }

    public new DistilBertConfig Config => (DistilBertConfig)base.Config;
    public DistilBertEmbeddings Embeddings { get; }
    public Transformer Transformer { get; }

    public override string BaseModelPrefix => "distilbert";
    public override string ArchitectureName => "DistilBertModel";

    public override EncoderOutput Forward(EncoderInputs inputs, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        var positions = BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings);
        Tensor e = Embeddings.Forward(inputs.InputIds, positions);
        var hidden = outputHiddenStates ? new List<Tensor> { e } : null;
        var attentions = outputAttentions ? new List<Tensor>() : null;
        Tensor h = e;
        foreach (var block in Transformer.Layer)
        {
            // A block's output is an intermediate unless returned as a hidden state (e is returned as the embedding output).
            h = TensorScope.Stage(h, x => block.Forward(x, inputs.AttentionMask, attentions), attentions, inputIsIntermediate: hidden == null && !ReferenceEquals(h, e));
            hidden?.Add(h);
        }
        return new EncoderOutput { LastHiddenState = h, HiddenStates = hidden, Attentions = attentions, EmbeddingOutput = e };
    }
}

/// <summary>DistilBertForSequenceClassification: first token → pre_classifier → ReLU → dropout → classifier.</summary>
public sealed class DistilBertForSequenceClassification : SequenceClassificationModel
{
    public DistilBertForSequenceClassification(DistilBertConfig config, Generator? rng = null) : base(config)
    {
        Generator g = Rng(rng);
        float std = (float)config.InitializerRange;
        DistilBert = Register("distilbert", new DistilBertModel(config, g));
        PreClassifier = Register("pre_classifier", new Linear(config.Dim, config.Dim, true, std, g));
        Classifier = Register("classifier", new Linear(config.Dim, config.NumLabels, true, std, g));
        Dropout = Register("dropout", new Dropout((float)config.SeqClassifDropout));
    }

    public DistilBertModel DistilBert { get; }
    public Linear PreClassifier { get; }
    public Linear Classifier { get; }
    public Dropout Dropout { get; }

    public override string BaseModelPrefix => "distilbert";
    public override string ArchitectureName => "DistilBertForSequenceClassification";
    public override EncoderModel Encoder => DistilBert;

    protected override Tensor Head(EncoderOutput o) =>
        Classifier.Forward(Dropout.Forward(F.Relu(PreClassifier.Forward(F.SelectFirstToken(o.LastHiddenState)))));
}
