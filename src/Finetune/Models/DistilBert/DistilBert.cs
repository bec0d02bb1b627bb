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
public sealed class MultiHeadSelfAttention : SelfAttention
{
    public MultiHeadSelfAttention(DistilBertConfig c, float std, Generator rng)
        : base(c.Dim, c.NHeads, c.AttentionDropout, std, rng, ("q_lin", "k_lin", "v_lin")) =>
        OutLin = Register("out_lin", new Linear(c.Dim, c.Dim, true, std, rng));

    public Linear QLin => Query;
    public Linear KLin => Key;
    public Linear VLin => Value;
    public Linear OutLin { get; }

    public Tensor Forward(Tensor x, IntTensor? mask, List<Tensor>? attentions = null) => OutLin.Forward(Attend(x, mask, attentions));
}

/// <summary>lin1 → activation → lin2 → dropout.</summary>
public sealed class FFN : FeedForward
{
    public FFN(DistilBertConfig c, float std, Generator rng) : base(c.Dim, c.HiddenDim, c.Activation, c.Dropout, std, rng, ("lin1", "lin2", "dropout"))
    {
    }

    public Linear Lin1 => In;
    public Linear Lin2 => Out;
}

/// <summary>One block (transformer.layer.N): LayerNorm(sublayer + input) after attention and after the feed-forward.</summary>
public sealed class TransformerBlock : Module, IEncoderLayer
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

    public int FeedForwardWidth => Ffn.Width;

    public Tensor Attend(Tensor x, IntTensor? mask, List<Tensor>? attentions) => SaLayerNorm.AddForward(Attention.Forward(x, mask, attentions), x);

    public Tensor FeedForward(Tensor sa) => OutputLayerNorm.AddForward(Ffn.Forward(sa), sa);
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

    public override string ArchitectureName => "DistilBertModel";

    protected override Tensor Embed(EncoderInputs inputs) =>
        Embeddings.Forward(inputs.InputIds, BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings));

    protected override IReadOnlyList<IReadOnlyList<IEncoderLayer>> Layers => EncoderStack.OnePerStep(Transformer.Layer);
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

    public override string ArchitectureName => "DistilBertForSequenceClassification";
    public override EncoderModel Encoder => DistilBert;

    protected override Tensor Head(EncoderOutput o) =>
        Classifier.Forward(Dropout.Forward(F.Relu(PreClassifier.Forward(F.SelectFirstToken(o.LastHiddenState)))));
}
