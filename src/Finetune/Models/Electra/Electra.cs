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

    public override string ArchitectureName => "ElectraModel";

    protected override Tensor Embed(EncoderInputs inputs) =>
        Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, BertEmbeddings.ArangePositions(inputs.SeqLen, Config.MaxPositionEmbeddings));

    protected override Linear? EmbeddingProjection => EmbeddingsProject;

    protected override IReadOnlyList<IReadOnlyList<IEncoderLayer>> Layers => EncoderStack.OnePerStep(Encoder.Layer);
}

/// <summary>ElectraForSequenceClassification.</summary>
public sealed class ElectraForSequenceClassification : SequenceClassificationModel
{
    public ElectraForSequenceClassification(ElectraConfig config, Generator? rng = null) : base(config)
    {
        Generator g = Rng(rng);
        Electra = Register("electra", new ElectraModel(config, g));
        Classifier = Register("classifier", new ClassificationHead(config.HiddenSize, config.NumLabels, config.ClassifierDropoutOrHidden, "gelu", (float)config.InitializerRange, g));
    }

    public ElectraModel Electra { get; }
    public ClassificationHead Classifier { get; }

    public override string ArchitectureName => "ElectraForSequenceClassification";
    public override EncoderModel Encoder => Electra;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(o.LastHiddenState);
}
