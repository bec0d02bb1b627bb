using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>What <see cref="EncoderStack.Run"/> hands back: the embeddings, the last layer's output and what was asked for.</summary>
public readonly record struct EncoderRun(Tensor Embeddings, Tensor LastHiddenState, List<Tensor>? HiddenStates, List<Tensor>? Attentions);

/// <summary>
/// Runs an encoder: embeddings, an optional projection to the hidden width, then the layers. This is the one place
/// that decides how it executes, so model families only name and wire their parts:
/// <list type="bullet">
/// <item>the embeddings and each hidden-state step (one layer, or ALBERT's shared group) run as a
/// <see cref="TensorScope.Stage(Tensor, Func{Tensor, Tensor}, List{Tensor}?, bool)"/>, so a step's intermediates go
/// back to the pool as soon as its output exists (or, in training, once backward no longer needs them);</item>
/// <item>a step's input is freed after the step in inference when no caller can reach it: the embeddings are the
/// caller's (they are returned), every later tensor the stack made is an intermediate unless returned as a hidden
/// state;</item>
/// <item>in inference with the chunked policy (<see cref="RunContext.ChunksInference"/>) the feed-forward half runs
/// on slices of the tokens (<see cref="F.ApplyInRowChunks"/>).</item>
/// </list>
/// How to execute comes from <see cref="RunContext.Current"/>, read here once a run and nowhere in the model code.
/// </summary>
public static class EncoderStack
{
    /// <param name="embed">Forms the embeddings from the inputs (lookups, sums, LayerNorm, dropout).</param>
    /// <param name="project">Maps the embeddings to the hidden width (ALBERT, ELECTRA), or null.</param>
    /// <param name="steps">Entry i runs between hidden state i and i + 1: one layer, or several applied in turn.</param>
    public static EncoderRun Run(Func<Tensor> embed, Func<Tensor, Tensor>? project, IReadOnlyList<IReadOnlyList<IEncoderLayer>> steps, IntTensor? mask,
        bool outputHiddenStates, bool outputAttentions)
    {
        bool chunked = RunContext.Current.ChunksInference;
        Tensor embeddings = TensorScope.Stage(embed);
        var hidden = outputHiddenStates ? new List<Tensor>() : null;
        var attentions = outputAttentions ? new List<Tensor>() : null;
        Tensor h = project != null ? project(embeddings) : embeddings;
        hidden?.Add(h);
        foreach (var layers in steps)
        {
            bool inputIsIntermediate = hidden == null && !ReferenceEquals(h, embeddings);
            h = TensorScope.Stage(h, x => Apply(layers, x, mask, attentions, chunked), attentions, inputIsIntermediate);
            hidden?.Add(h);
        }
        return new EncoderRun(embeddings, h, hidden, attentions);
    }

    /// <summary>Each layer of a list its own step (BERT, DistilBERT: every layer's output is a hidden state).</summary>
    public static IReadOnlyList<IReadOnlyList<IEncoderLayer>> OnePerStep(IReadOnlyList<IEncoderLayer> layers)
    {
        var steps = new IReadOnlyList<IEncoderLayer>[layers.Count];
        for (int i = 0; i < steps.Length; i++) steps[i] = [layers[i]];
        return steps;
    }

    private static Tensor Apply(IReadOnlyList<IEncoderLayer> layers, Tensor x, IntTensor? mask, List<Tensor>? attentions, bool chunked)
    {
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            Tensor a = layer.Attend(x, mask, attentions);
            // Inference keeps only a slice of the tokens' widest feed-forward activations at a time.
            x = chunked ? F.ApplyInRowChunks(a, layer.FeedForwardWidth, layer.FeedForward) : layer.FeedForward(a);
        }
        return x;
    }
}
