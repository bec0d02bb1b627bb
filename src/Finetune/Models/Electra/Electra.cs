using Finetune.Models.Bert;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.Electra;

// ELECTRA (discriminator): BERT's embeddings at width embedding_size, projected to hidden_size by
// embeddings_project when the two differ, then BERT's encoder; no pooler. The classification head works on the
// first token: dropout → dense → GELU → dropout → out_proj.

/// <summary>The bare ELECTRA encoder (ElectraModel).</summary>
public sealed class ElectraModel : EncoderModel
{
    public ElectraModel(ElectraConfig config, Generator? rng = null) : base(config)
    {
        config.RequireAbsolutePositions();
        float std = (float)config.InitializerRange;
        Generator g = Rng(rng);
        Embeddings = Register("embeddings", new BertEmbeddings(config.VocabSize, config.EmbeddingSize, config.MaxPositionEmbeddings, config.TypeVocabSize,
            config.LayerNormEps, config.HiddenDropoutProb, config.PadTokenId, std, g));
        if (config.EmbeddingSize != config.HiddenSize)
            EmbeddingsProject = Register("embeddings_project", new Linear(config.EmbeddingSize, config.HiddenSize, true, std, g));
        Encoder = Register("encoder", new BertEncoder(config, std, g));
    }

    public new ElectraConfig Config => (ElectraConfig)base.Config;
    public BertEmbeddings Embeddings { get; }
    public Linear? EmbeddingsProject { get; }
    public BertEncoder Encoder { get; }

    public override string BaseModelPrefix => "electra";
    public override string ArchitectureName => "ElectraModel";

    public override EncoderOutput Forward(EncoderInputs inputs, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        var positions = BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings);
        Tensor e = Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, positions);
        Tensor h = EmbeddingsProject?.Forward(e) ?? e;
        var hidden = outputHiddenStates ? new List<Tensor> { h } : null;
        var attentions = outputAttentions ? new List<Tensor>() : null;
        h = Encoder.Forward(h, inputs.AttentionMask, hidden, attentions);
        return new EncoderOutput { LastHiddenState = h, HiddenStates = hidden, Attentions = attentions, EmbeddingOutput = e };
    }
}

/// <summary>classifier.dense → GELU → classifier.out_proj on the first token, dropout before each.</summary>
public sealed class ElectraClassificationHead : Module
{
    public ElectraClassificationHead(int hidden, int numLabels, double dropout, float std, Generator rng)
    {
        Dense = Register("dense", new Linear(hidden, hidden, true, std, rng));
        Dropout = Register("dropout", new Dropout((float)dropout));
        OutProj = Register("out_proj", new Linear(hidden, numLabels, true, std, rng));
    }

    public Linear Dense { get; }
    public Dropout Dropout { get; }
    public Linear OutProj { get; }

    public Tensor Forward(Tensor h)
    {
        Tensor x = Dropout.Forward(F.SelectFirstToken(h));
        x = Dropout.Forward(F.Gelu(Dense.Forward(x)));
        return OutProj.Forward(x);
    }
}

/// <summary>ElectraForSequenceClassification.</summary>
public sealed class ElectraForSequenceClassification : SequenceClassificationModel
{
    public ElectraForSequenceClassification(ElectraConfig config, Generator? rng = null) : base(config)
    {
        Generator g = Rng(rng);
        Electra = Register("electra", new ElectraModel(config, g));
        Classifier = Register("classifier", new ElectraClassificationHead(config.HiddenSize, config.NumLabels, config.ClassifierDropoutOrHidden, (float)config.InitializerRange, g));
    }

    public ElectraModel Electra { get; }
    public ElectraClassificationHead Classifier { get; }

    public override string BaseModelPrefix => "electra";
    public override string ArchitectureName => "ElectraForSequenceClassification";
    public override EncoderModel Encoder => Electra;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(o.LastHiddenState);
}
