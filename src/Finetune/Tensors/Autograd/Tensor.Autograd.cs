namespace Finetune.Tensors;

// A tensor's bookkeeping during Backward. Not part of the public surface.
public sealed partial class Tensor
{
    /// <summary>Gradient flowing into a non-leaf during Backward (released as soon as it has been propagated).</summary>
    internal Tensor? PendingGrad { get; set; }

    /// <summary>Set while this tensor is the gradient a backward function is reading and Backward owns it (see <see cref="Autograd.TargetOver"/>).</summary>
    internal bool IncomingGradient { get; set; }

    /// <summary>How many recorded ops not yet released read this tensor's data in their backward pass.</summary>
    internal int SavedBy { get; set; }
}
