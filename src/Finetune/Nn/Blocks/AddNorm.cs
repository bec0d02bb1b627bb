using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// dense → dropout → LayerNorm(· + residual), under BERT's names (dense, dropout, LayerNorm): the output of a
/// sublayer joined back to the stream it branched from. The sum and the normalisation run as one op.
/// </summary>
public sealed class AddNorm : Module
{
    public AddNorm(int inFeatures, int hidden, double eps, double dropout, float std, Generator rng)
    {
        Dense = Register("dense", new Linear(inFeatures, hidden, true, std, rng));
        LayerNorm = Register("LayerNorm", new LayerNorm(hidden, (float)eps));
        Dropout = Register("dropout", new Dropout((float)dropout));
    }

    public Linear Dense { get; }
    public LayerNorm LayerNorm { get; }
    public Dropout Dropout { get; }

    public Tensor Forward(Tensor x, Tensor residual) => LayerNorm.AddForward(Dropout.Forward(Dense.Forward(x)), residual);
}
