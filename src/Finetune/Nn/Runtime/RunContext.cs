using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>How a forward pass runs: <see cref="RunContext.Mode"/>.</summary>
public enum RunMode
{
    /// <summary>Gradients are recorded; activations follow the context's policy (recompute-cheap or keep).</summary>
    Train,

    /// <summary>Evaluation with the gradient mode left as it is: nothing is chunked.</summary>
    Eval,

    /// <summary>No graph is recorded (entering the context turns gradients off); the stack may run layers in row chunks.</summary>
    Inference,
}

/// <summary>Which attention path <see cref="SelfAttention"/> takes.</summary>
public enum AttentionImplementation
{
    /// <summary>One GEMM for the query, key and value projections and attention on the packed result, whenever the projections are plain affine maps.</summary>
    Fused,

    /// <summary>Each projection through its own <see cref="Linear.Forward"/>, then attention on the three.</summary>
    Separate,
}

/// <summary>
/// How the calling flow runs models: the mode, the generator dropout draws from when a layer has none of its own,
/// the activation policy and the attention implementation. Entered for a flow (<see cref="Enter"/>) it holds for
/// that thread and the tasks it starts until the returned scope is disposed, so two trainers in one process, or a
/// server beside a trainer, never see each other's settings or draw from each other's stream. With none entered,
/// <see cref="Current"/> follows the gradient mode: training with recompute-cheap activations, or, inside
/// <c>Tensor.NoGrad()</c>, chunked inference. Whether dropout is active stays each module's
/// <see cref="Module.Train(bool)"/> switch, as in transformers.
/// <code>
/// using (new RunContext(RunMode.Train, new Generator(7), ActivationPolicy.Keep).Enter())
///     loss = model.Forward(batch).Loss;
/// </code>
/// </summary>
public sealed record RunContext(RunMode Mode, Generator? Generator = null, ActivationPolicy Activations = ActivationPolicy.RecomputeCheap,
    AttentionImplementation Attention = AttentionImplementation.Fused)
{
    private static readonly AsyncLocal<RunContext?> Entered = new();
    private static readonly RunContext TrainDefault = new(RunMode.Train);
    private static readonly RunContext InferenceDefault = new(RunMode.Inference, Activations: ActivationPolicy.ChunkedInference);

    /// <summary>The context entered in the calling flow, else the default for the current gradient mode.</summary>
    public static RunContext Current => Entered.Value ?? (Tensor.IsGradEnabled ? TrainDefault : InferenceDefault);

    /// <summary>Inference: no gradients, feed-forward halves in row chunks.</summary>
    public static RunContext Inference => InferenceDefault;

    /// <summary>The stream dropout draws from: this context's generator, else <see cref="Tensors.Generator.Default"/>.</summary>
    public Generator DropoutGenerator => Generator ?? Tensors.Generator.Default;

    /// <summary>Whether the encoder stack runs the position-wise half of each layer on slices of the tokens.</summary>
    public bool ChunksInference => Mode == RunMode.Inference && Activations == ActivationPolicy.ChunkedInference;

    internal static void Restore(RunContext? before) => Entered.Value = before;

    /// <summary>Makes this the calling flow's context until the scope is disposed (dispose on the same thread).</summary>
    public RunScope Enter()
    {
        var before = Entered.Value;
        Entered.Value = this;
        var policyBefore = ActivationPolicies.Swap(Activations);
        return new RunScope(before, policyBefore, Mode == RunMode.Inference ? Tensor.NoGrad() : default);
    }
}

/// <summary>Restores the context (and gradient mode) that was in force before <see cref="RunContext.Enter"/>.</summary>
public readonly struct RunScope : IDisposable
{
    private readonly RunContext? _before;
    private readonly ActivationPolicy? _policyBefore;
    private readonly NoGradScope _noGrad;
    private readonly bool _active;

    internal RunScope(RunContext? before, ActivationPolicy? policyBefore, NoGradScope noGrad)
    {
        _before = before;
        _policyBefore = policyBefore;
        _noGrad = noGrad;
        _active = true;
    }

    public void Dispose()
    {
        if (!_active) return;
        _noGrad.Dispose();
        ActivationPolicies.Swap(_policyBefore);
        RunContext.Restore(_before);
    }
}
