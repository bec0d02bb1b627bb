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
    /// Runs one stage of a forward pass (a transformer layer). With gradients off nothing reads the stage's
    /// intermediates again, so they go back to the pool as soon as its output exists, and inference holds one
    /// layer's activations at a time instead of the whole network's. With gradients on, backward needs them, so
    /// the body simply runs. Tensors the body appends to <paramref name="extraOutputs"/> (attention
    /// probabilities) are kept too.
    /// </summary>
    public static Tensor Stage(Func<Tensor> body, List<Tensor>? extraOutputs = null)
    {
        if (Tensor.IsGradEnabled) return body();
        int before = extraOutputs?.Count ?? 0;
        using var scope = Begin();
        Tensor result = scope.Keep(body());
        if (extraOutputs != null)
            for (int i = before; i < extraOutputs.Count; i++) scope.Keep(extraOutputs[i]);
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
