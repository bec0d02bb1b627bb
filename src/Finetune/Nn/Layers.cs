using System.Collections.Concurrent;
using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// y = x·Wᵀ + b with W [out, in] and b [out] (torch.nn.Linear's names and layout). Open to subclasses that change
/// <see cref="Forward"/> (an adapter, a quantised layer); see <see cref="Affine"/> for how they meet packed projections.
/// </summary>
public class Linear : Module
{
    private static readonly ConcurrentDictionary<Type, bool> ForwardIsInherited = new();

    /// <summary>Weights drawn from N(0, <paramref name="initStd"/>²) (transformers' initializer_range), bias zero.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, float initStd = 0.02f, Generator? rng = null)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = Parameter("weight", Tensor.Randn(rng ?? Generator.Default, initStd, outFeatures, inFeatures));
        Bias = bias ? Parameter("bias", outFeatures) : null;
    }

    /// <summary>Over existing tensors (registered as this layer's parameters): W [out, in] and b [out] or null.</summary>
    public Linear(Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank != 2) throw new ArgumentException($"Linear: weight must be [out, in], got {Tensor.ShapeString(weight.Shape)}.");
        if (bias != null && bias.Length != weight.Shape[0]) throw new ArgumentException($"Linear: bias has {bias.Length} values, expected {weight.Shape[0]}.");
        OutFeatures = weight.Shape[0];
        InFeatures = weight.Shape[1];
        Weight = Parameter("weight", weight);
        Bias = bias != null ? Parameter("bias", bias) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public virtual Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);

    /// <summary>
    /// The weight and bias whose x·Wᵀ + b is exactly <see cref="Forward"/>, for a caller that multiplies the weights
    /// of several layers reading one input in a single GEMM (SelfAttention's packed query/key/value); null when the
    /// layer is no such affine map, and the caller must call <see cref="Forward"/>. The base answers its own
    /// parameters. A subclass that overrides Forward answers null unless it overrides this too, so a packed path
    /// never bypasses it: an adapter may answer its effective weight built with autograd ops (its own parameters then
    /// get their gradients through the packed GEMM), a layer that cannot be written as one weight keeps null.
    /// </summary>
    public virtual LinearAffine? Affine => ForwardIsInherited.GetOrAdd(GetType(), InheritsForward) ? new LinearAffine(Weight, Bias) : null;

    private static bool InheritsForward(Type t) => t.GetMethod(nameof(Forward), [typeof(Tensor)])?.DeclaringType == typeof(Linear);
}

/// <summary>What a <see cref="Linear"/> computes when it is x·Wᵀ + b: the W [out, in] and b [out] to pack.</summary>
public readonly record struct LinearAffine(Tensor Weight, Tensor? Bias);

/// <summary>A lookup table [num, dim]; the padding row starts at zero and receives no gradient.</summary>
public sealed class Embedding : Module
{
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null, float initStd = 0.02f, Generator? rng = null)
    {
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        if (paddingIdx is int p)
        {
            if (p < -numEmbeddings || p >= numEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(paddingIdx), $"padding_idx {p} is outside the {numEmbeddings} embeddings.");
            PaddingIdx = p < 0 ? p + numEmbeddings : p;
        }
        Weight = Parameter("weight", Tensor.Randn(rng ?? Generator.Default, initStd, numEmbeddings, embeddingDim));
        if (PaddingIdx is int pad) Weight.Span.Slice(pad * embeddingDim, embeddingDim).Clear();
    }

    public int NumEmbeddings { get; }
    public int EmbeddingDim { get; }
    public int? PaddingIdx { get; }
    public Tensor Weight { get; }

    public Tensor Forward(IntTensor ids) => F.Embedding(ids, Weight, PaddingIdx);
}

/// <summary>Layer normalisation over the last dimension with a learned scale (weight) and shift (bias).</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(int normalizedShape, float eps = 1e-5f)
    {
        Eps = eps;
        Weight = Parameter("weight", Tensor.Ones(normalizedShape));
        Bias = Parameter("bias", normalizedShape);
    }

    public float Eps { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }

    public Tensor Forward(Tensor x) => F.LayerNorm(x, Weight, Bias, Eps);

    /// <summary>LayerNorm(x + residual), the sum formed inside the op (transformers' order: x first).</summary>
    public Tensor AddForward(Tensor x, Tensor residual) => F.AddLayerNorm(x, residual, Weight, Bias, Eps);
}

/// <summary>Dropout with its own seeded stream (or the run context's, see <see cref="RunContext.DropoutGenerator"/>); the identity in evaluation mode.</summary>
public sealed class Dropout : Module
{
    private readonly Generator? _rng;

    public Dropout(float p, Generator? rng = null)
    {
        if (p < 0f || p > 1f) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability {p} is outside [0, 1].");
        P = p;
        _rng = rng;
    }

    public float P { get; }

    public Tensor Forward(Tensor x) => F.Dropout(x, P, Training, _rng);
}
