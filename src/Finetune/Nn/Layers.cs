using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>y = x·Wᵀ + b with W [out, in] and b [out] (torch.nn.Linear's names and layout).</summary>
public sealed class Linear : Module
{
    /// <summary>Weights drawn from N(0, <paramref name="initStd"/>²) (transformers' initializer_range), bias zero.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, float initStd = 0.02f, Generator? rng = null)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = Parameter("weight", Tensor.Randn(rng ?? Generator.Default, initStd, outFeatures, inFeatures));
        Bias = bias ? Parameter("bias", outFeatures) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);
}

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
}

/// <summary>Dropout with its own seeded stream (or the default one); the identity in evaluation mode.</summary>
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
