namespace Finetune.Tensors;

/// <summary>
/// Hands every tensor created inside it on this thread back to the buffer pool when disposed, so that a training
/// step reuses the previous step's memory instead of leaving it to the garbage collector:
/// <code>
/// using (var scope = TensorScope.Begin())
/// {
///     var loss = model.Forward(batch).Loss;
///     loss.Backward();
///     optimizer.Step();
///     lossValue = loss.Item();          // read what you need before the scope ends,
///     logits = scope.Keep(logits);      // or keep a tensor alive past it
/// }
/// </code>
/// Parameters, other leaves that require grad, and gradients of leaves are never released by a scope. Scopes nest; a kept tensor moves to the
/// enclosing scope. A tensor used after its scope ended throws <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;

    private readonly TensorScope? _parent;
    private readonly List<Tensor> _owned = new();
    private readonly HashSet<Tensor> _kept = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    private TensorScope(TensorScope? parent) => _parent = parent;

    /// <summary>Starts a scope on the current thread.</summary>
    public static TensorScope Begin() => _current = new TensorScope(_current);

    internal static void Track(Tensor t) => _current?._owned.Add(t);

    /// <summary>Keeps <paramref name="t"/> alive after this scope (it then belongs to the enclosing scope, if any).</summary>
    public Tensor Keep(Tensor t)
    {
        _kept.Add(t);
        _parent?._owned.Add(t);
        return t;
    }

    /// <summary>
    /// Runs one stage of a forward pass (a transformer layer). Only its output and the tensors the body appends to
    /// <paramref name="extraOutputs"/> (attention probabilities) leave the stage; every other tensor made inside is
    /// an intermediate nothing outside can reach. With gradients off nothing reads them again, so they go back to
    /// the pool as soon as the output exists, and inference holds one layer's activations at a time instead of
    /// the whole network's. With gradients on, those that no recorded op saves for backward (a dense layer's
    /// output feeding dropout, dropout's output feeding a residual sum) go back at once; the saved ones go back
    /// during Backward, as soon as the last op reading them has run. With the <see cref="ActivationPolicy.RecomputeCheap"/> policy of the run, saved
    /// tensors an op can recompute from its own saved inputs (the output of GELU) give their buffer back too.
    /// </summary>
    public static Tensor Stage(Func<Tensor> body, List<Tensor>? extraOutputs = null)
    {
        int before = extraOutputs?.Count ?? 0;
        using var scope = Begin();
        Tensor result = scope.Keep(body());
        if (extraOutputs != null)
            for (int i = before; i < extraOutputs.Count; i++) scope.Keep(extraOutputs[i]);
        if (Tensor.IsGradEnabled)
        {
            bool recompute = ActivationPolicies.Recomputes;
            foreach (var t in scope._owned)
            {
                if (scope._kept.Contains(t) || t.Persistent) continue;
                // Ops' internal scratch (attention probabilities, dropout masks) has no grad_fn: backward closures
                // read it without listing it as saved, and the op's own release action hands it back.
                if (t.GradFn != null && t.SavedBy == 0) t.Dispose();
                else
                {
                    if (t.GradFn != null)
                    {
                        t.FreeWhenUnsaved = true;
                        if (recompute) t.DropUntilRead(); // GELU's output: recomputed when backward reads it
                    }
                    scope.Keep(t); // the enclosing scope frees the rest if Backward never runs
                }
            }
        }
        return result;
    }

    /// <summary>
    /// <see cref="Stage(Func{Tensor}, List{Tensor}?)"/> for a stage that reads <paramref name="input"/> (the previous
    /// layer's output). Once the stage has run, nothing in the forward pass reads the input again. With gradients
    /// on and the <see cref="ActivationPolicy.RecomputeCheap"/> policy, an input that its op can form again (LayerNorm's output, from the
    /// sum and row statistics its backward keeps) gives its buffer back until backward reads it. With gradients off,
    /// an input the caller marks <paramref name="inputIsIntermediate"/> (no one outside holds it: not the
    /// encoder's own input, not a returned hidden state) is freed.
    /// </summary>
    public static Tensor Stage(Tensor input, Func<Tensor, Tensor> body, List<Tensor>? extraOutputs = null, bool inputIsIntermediate = false)
    {
        Tensor result = Stage(() => body(input), extraOutputs);
        if (ReferenceEquals(input, result)) return result;
        if (!Tensor.IsGradEnabled)
        {
            if (inputIsIntermediate) input.Dispose();
        }
        else if (ActivationPolicies.Recomputes && input.GradFn != null) input.DropUntilRead();
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        if (!ReferenceEquals(_current, this))
            throw new InvalidOperationException("TensorScope disposed out of order: dispose inner scopes first, on the thread that began them.");
        _disposed = true;
        _current = _parent;
        foreach (var t in _owned)
            if (!t.Persistent && !(t.IsLeaf && t.RequiresGrad) && !_kept.Contains(t)) t.Dispose();
        _owned.Clear();
    }
}
