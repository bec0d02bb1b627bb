using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Models;

/// <summary>
/// A bare encoder (BertModel, RobertaModel, ...): what AutoModel returns. A family says what its parts compute
/// (<see cref="Embed"/>, <see cref="EmbeddingProjection"/>, <see cref="Layers"/>, <see cref="Pool"/>);
/// <see cref="EncoderStack"/> runs them.
/// </summary>
public abstract class EncoderModel : PreTrainedModel
{
    protected EncoderModel(PretrainedConfig config) : base(config)
    {
    }

    /// <summary>The embeddings module's output for <paramref name="inputs"/> (positions are the family's own rule).</summary>
    protected abstract Tensor Embed(EncoderInputs inputs);

    /// <summary>The map from the embedding width to the hidden width, when the family has one.</summary>
    protected virtual Linear? EmbeddingProjection => null;

    /// <summary>In order, what runs between hidden state i and i + 1: one layer, or a group applied in turn (ALBERT).</summary>
    protected abstract IReadOnlyList<IReadOnlyList<IEncoderLayer>> Layers { get; }

    /// <summary>The pooled output from the last hidden state, for families with a pooler.</summary>
    protected virtual Tensor? Pool(Tensor lastHiddenState) => null;

    public EncoderOutput Forward(EncoderInputs inputs, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        Linear? project = EmbeddingProjection;
        var run = EncoderStack.Run(() => Embed(inputs), project != null ? project.Forward : null, Layers, inputs.AttentionMask, outputHiddenStates, outputAttentions);
        return new EncoderOutput
        {
            LastHiddenState = run.LastHiddenState,
            PooledOutput = Pool(run.LastHiddenState),
            HiddenStates = run.HiddenStates,
            Attentions = run.Attentions,
            EmbeddingOutput = run.Embeddings,
        };
    }

    public EncoderOutput Forward(IntTensor inputIds, IntTensor? attentionMask = null, IntTensor? tokenTypeIds = null, bool outputHiddenStates = false, bool outputAttentions = false) =>
        Forward(new EncoderInputs(inputIds, attentionMask, tokenTypeIds), outputHiddenStates, outputAttentions);
}

/// <summary>
/// An encoder with a classification head (XForSequenceClassification). The loss follows config.problem_type,
/// inferred like transformers when unset: one label → MSE; integer labels → cross-entropy; else BCE-with-logits.
/// </summary>
public abstract class SequenceClassificationModel : PreTrainedModel
{
    protected SequenceClassificationModel(PretrainedConfig config) : base(config)
    {
    }

    public abstract EncoderModel Encoder { get; }

    public int NumLabels => Config.NumLabels;

    /// <summary>Logits [batch, num_labels] from the encoder's output.</summary>
    protected abstract Tensor Head(EncoderOutput encoded);

    public SequenceClassifierOutput Forward(EncoderInputs inputs, Labels? labels = null, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        EncoderOutput encoded = Encoder.Forward(inputs, outputHiddenStates, outputAttentions);
        Tensor logits = Head(encoded);
        Tensor? loss = null;
        string? problem = null;
        if (labels is { } l)
        {
            problem = Config.ResolveProblemType(l.IsInteger);
            Config.ProblemType ??= problem; // transformers records the inferred type in the config
            loss = Loss(logits, l, problem, inputs.BatchSize);
        }
        return new SequenceClassifierOutput
        {
            Loss = loss,
            Logits = logits,
            HiddenStates = encoded.HiddenStates,
            PooledOutput = encoded.PooledOutput,
            Attentions = encoded.Attentions,
            EmbeddingOutput = encoded.EmbeddingOutput,
            ProblemType = problem,
        };
    }

    public SequenceClassifierOutput Forward(IntTensor inputIds, IntTensor? attentionMask = null, IntTensor? tokenTypeIds = null, Labels? labels = null,
        bool outputHiddenStates = false, bool outputAttentions = false) =>
        Forward(new EncoderInputs(inputIds, attentionMask, tokenTypeIds), labels, outputHiddenStates, outputAttentions);

    private Tensor Loss(Tensor logits, Labels labels, string problem, int batch)
    {
        int n = NumLabels;
        switch (problem)
        {
            case ProblemTypes.Regression:
                {
                    float[] target = labels.AsFloats();
                    if (target.Length != batch * n)
                        throw FinetuneException.Invalid($"Regression needs {batch * n} label values for {batch} rows of {n} outputs, got {target.Length}.");
                    return F.Mse(logits, Tensor.FromArray(target, logits.Shape));
                }
            case ProblemTypes.SingleLabel:
                {
                    if (!labels.IsInteger)
                        throw FinetuneException.Invalid("Single-label classification needs integer class labels, not floats.");
                    if (labels.Length != batch)
                        throw FinetuneException.Invalid($"Single-label classification needs one label per row ({batch}), got {labels.Length}.");
                    return F.CrossEntropy(logits, IntTensor.FromArray(labels.Ints!, batch));
                }
            default:
                {
                    float[] target = labels.AsFloats();
                    if (target.Length != batch * n)
                        throw FinetuneException.Invalid($"Multi-label classification needs {n} label values per row ({batch * n} in all), got {target.Length}.");
                    return F.BceWithLogits(logits, Tensor.FromArray(target, logits.Shape));
                }
        }
    }
}
