using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// The position-wise feed-forward: expand → activation → contract → dropout, each token on its own (so inference
/// may run it on slices of the tokens). Names are the checkpoint's (DistilBERT: lin1, lin2, dropout).
/// </summary>
public class FeedForward : Module
{
    private readonly Func<Tensor, Tensor> _act;

    public FeedForward(int dim, int hiddenDim, string activation, double dropout, float std, Generator rng, (string In, string Out, string Dropout) names)
    {
        _act = Activations.Get(activation);
        Dropout = Register(names.Dropout, new Dropout((float)dropout));
        In = Register(names.In, new Linear(dim, hiddenDim, true, std, rng));
        Out = Register(names.Out, new Linear(hiddenDim, dim, true, std, rng));
    }

    public Linear In { get; }
    public Linear Out { get; }
    public Dropout Dropout { get; }

    /// <summary>The widest tensor this block makes holds this many features a token.</summary>
    public int Width => In.OutFeatures;

    public Tensor Forward(Tensor x) => Dropout.Forward(Out.Forward(_act(In.Forward(x))));
}
