namespace Finetune.Tensors;

/// <summary>What a forward pass holds on to for backward, and how inference bounds its widest tensors.</summary>
public enum ActivationPolicy
{
    /// <summary>
    /// Training holds only what cannot be formed again cheaply: outputs an op can recompute, bit for bit, from what
    /// its backward keeps anyway (GELU's and LayerNorm's outputs, short attention's probabilities) give their
    /// buffer back after the forward pass and are formed again when backward needs them.
    /// </summary>
    RecomputeCheap,

    /// <summary>Training holds every saved activation from forward to backward; inference runs the whole batch at once.</summary>
    Keep,

    /// <summary>Inference runs the position-wise half of each layer on slices of the tokens, one slice's widest tensor at a time.</summary>
    ChunkedInference,
}

/// <summary>The activation policy of the calling flow, as the run context that is entered sets it (recompute-cheap by default).</summary>
internal static class ActivationPolicies
{
    private static readonly AsyncLocal<ActivationPolicy?> Entered = new();

    public static ActivationPolicy Current => Entered.Value ?? ActivationPolicy.RecomputeCheap;

    /// <summary>Whether training gives cheap-to-recompute activations back after the forward pass.</summary>
    public static bool Recomputes => Current == ActivationPolicy.RecomputeCheap;

    /// <summary>Sets the calling flow's policy; returns the one to restore.</summary>
    public static ActivationPolicy? Swap(ActivationPolicy? policy)
    {
        var before = Entered.Value;
        Entered.Value = policy;
        return before;
    }
}
