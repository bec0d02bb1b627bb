using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// A sequence classification head on the first token: dropout → dense → activation → dropout → out_proj (RoBERTa's
/// with tanh, ELECTRA's with GELU; transformers' classifier.dense / classifier.out_proj).
/// </summary>
public sealed class ClassificationHead : Module
{
    private readonly Func<Tensor, Tensor> _act;

    public ClassificationHead(int hidden, int numLabels, double dropout, string activation, float std, Generator rng)
    {
        _act = Activations.Get(activation);
        Activation = activation;
        Dense = Register("dense", new Linear(hidden, hidden, true, std, rng));
        Dropout = Register("dropout", new Dropout((float)dropout));
        OutProj = Register("out_proj", new Linear(hidden, numLabels, true, std, rng));
    }

    public Linear Dense { get; }
    public Dropout Dropout { get; }
    public Linear OutProj { get; }

    /// <summary>The activation's name (transformers' ACT2FN key).</summary>
    public string Activation { get; }

    public Tensor Forward(Tensor h)
    {
        Tensor x = Dropout.Forward(F.SelectFirstToken(h));
        x = Dropout.Forward(_act(Dense.Forward(x)));
        return OutProj.Forward(x);
    }
}
