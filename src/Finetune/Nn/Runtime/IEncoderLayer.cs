using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// One transformer encoder layer as the <see cref="EncoderStack"/> runs it: the attention half (which mixes tokens)
/// and the feed-forward half (which acts on each token alone), each with its residual and normalisation. A family
/// only says what each half computes; when and how they run (freeing, chunking) is the stack's decision.
/// </summary>
public interface IEncoderLayer
{
    /// <summary>Self-attention with its output projection, residual and norm; appends the probabilities to <paramref name="attentions"/> when given.</summary>
    Tensor Attend(Tensor h, IntTensor? mask, List<Tensor>? attentions);

    /// <summary>The position-wise half with its residual and norm: row i of the output depends on row i of the input only.</summary>
    Tensor FeedForward(Tensor a);

    /// <summary>Features a token of the feed-forward's widest intermediate (intermediate_size).</summary>
    int FeedForwardWidth { get; }
}
