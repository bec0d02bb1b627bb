using Finetune.Models.Bert;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models.Roberta;

// RoBERTa (and XLM-RoBERTa and CamemBERT, which are the same network): BERT's encoder with position ids counted
// from the padding index, and a classification head on <s> (dropout → dense → tanh → dropout → out_proj)
// instead of the pooler.

/// <summary>The bare RoBERTa encoder (RobertaModel / XLMRobertaModel / CamembertModel).</summary>
public sealed class RobertaModel : EncoderModel
{
    public RobertaModel(RobertaConfig config, bool addPoolingLayer = true, Generator? rng = null) : base(config)
    {
        config.RequireAbsolutePositions();
        float std = (float)config.InitializerRange;
        Generator g = Rng(rng);
        Embeddings = Register("embeddings", new BertEmbeddings(config.VocabSize, config.HiddenSize, config.MaxPositionEmbeddings, config.TypeVocabSize,
            config.LayerNormEps, config.HiddenDropoutProb, config.PadTokenId, std, g, positionPaddingIdx: config.PaddingIdx));
        Encoder = Register("encoder", new BertEncoder(config, std, g));
        Pooler = addPoolingLayer ? Register("pooler", new BertPooler(config.HiddenSize, std, g)) : null;
    }

    public new RobertaConfig Config => (RobertaConfig)base.Config;
    public BertEmbeddings Embeddings { get; }
    public BertEncoder Encoder { get; }
    public BertPooler? Pooler { get; }

    public override string ArchitectureName => RobertaNames.Prefix(Config) + "Model";

    protected override Tensor Embed(EncoderInputs inputs) =>
        Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds, PositionIds(inputs.InputIds, Config.PaddingIdx, Config.MaxPositionEmbeddings));

    protected override IReadOnlyList<IReadOnlyList<IEncoderLayer>> Layers => EncoderStack.OnePerStep(Encoder.Layer);

    protected override Tensor? Pool(Tensor lastHiddenState) => Pooler?.Forward(lastHiddenState);

    /// <summary>
    /// Position of each token: padding tokens get padding_idx, real tokens padding_idx + 1, + 2, ... in order
    /// (cumsum(mask)·mask + padding_idx with mask = input_ids ≠ padding_idx).
    /// </summary>
    public static IntTensor PositionIds(IntTensor inputIds, int paddingIdx, int maxPositions)
    {
        int b = inputIds.Shape[0], t = inputIds.Shape[1];
        var ids = inputIds.Span;
        var pos = new int[b * t];
        for (int r = 0; r < b; r++)
        {
            int count = 0;
            for (int i = 0; i < t; i++)
            {
                bool real = ids[r * t + i] != paddingIdx;
                if (real) count++;
                pos[r * t + i] = real ? count + paddingIdx : paddingIdx;
                if (pos[r * t + i] >= maxPositions)
                    throw FinetuneException.Invalid($"Row {r} has more than {maxPositions - paddingIdx - 1} tokens, more than the model's position embeddings allow; truncate the input.");
            }
        }
        return IntTensor.FromArray(pos, b, t);
    }
}

/// <summary>RobertaForSequenceClassification (also XLM-R and CamemBERT): encoder without pooler + classification head.</summary>
public sealed class RobertaForSequenceClassification : SequenceClassificationModel
{
    public RobertaForSequenceClassification(RobertaConfig config, Generator? rng = null) : base(config)
    {
        Generator g = Rng(rng);
        Roberta = Register("roberta", new RobertaModel(config, addPoolingLayer: false, g));
        Classifier = Register("classifier", new ClassificationHead(config.HiddenSize, config.NumLabels, config.ClassifierDropoutOrHidden, "tanh", (float)config.InitializerRange, g));
    }

    public RobertaModel Roberta { get; }
    public ClassificationHead Classifier { get; }

    public override string ArchitectureName => RobertaNames.Prefix((RobertaConfig)Config) + "ForSequenceClassification";
    public override EncoderModel Encoder => Roberta;

    protected override Tensor Head(EncoderOutput o) => Classifier.Forward(o.LastHiddenState);
}

internal static class RobertaNames
{
    public static string Prefix(RobertaConfig c) => c switch
    {
        XLMRobertaConfig => "XLMRoberta",
        CamembertConfig => "Camembert",
        _ => "Roberta",
    };
}
