namespace Finetune.Tensors;

/// <summary>
/// One recorded op: its inputs, the closure that sends the output's gradient back to them, and the tensors whose
/// data that closure reads (its saved tensors).
/// </summary>
internal sealed class GradNode(string op, Tensor[] inputs, Action<Tensor> backward, Action? release, Tensor[] saved, Tensor? recomputable)
{
    private Action? _release = release;
    private Tensor[]? _saved = saved;
    private Tensor? _recomputable = recomputable;

    public string Op { get; } = op;
    public Tensor[]? Inputs { get; private set; } = inputs;
    public Action<Tensor>? BackwardFn { get; private set; } = backward;
    public bool Freed => BackwardFn == null;

    /// <summary>
    /// Drops the saved tensors so their memory can be reused; the node can no longer backpropagate. A saved tensor
    /// that only the graph could reach (<see cref="Tensor.FreeWhenUnsaved"/>) goes back to the pool as soon as
    /// the last node reading it is released. An output the op can form again and that is still without its data
    /// (nothing in backward read it, but a caller may hold it: a hidden state) is formed first, while the inputs
    /// its refill reads still exist.
    /// </summary>
    public void Release()
    {
        Inputs = null;
        BackwardFn = null;
        _recomputable?.KeepRecomputed();
        _recomputable = null;
        _release?.Invoke();
        _release = null;
        if (_saved == null) return;
        foreach (var t in _saved)
            if (--t.SavedBy == 0 && t.FreeWhenUnsaved) t.Dispose();
        _saved = null;
    }
}

/// <summary>Recording and replaying the graph.</summary>
internal static class Autograd
{
    public static bool Tracks(Tensor a) => Tensor.IsGradEnabled && a.RequiresGrad;

    public static bool Tracks(Tensor a, Tensor? b) => Tensor.IsGradEnabled && (a.RequiresGrad || (b?.RequiresGrad ?? false));

    public static bool Tracks(Tensor a, Tensor? b, Tensor? c) =>
        Tensor.IsGradEnabled && (a.RequiresGrad || (b?.RequiresGrad ?? false) || (c?.RequiresGrad ?? false));

    /// <summary>Marks <paramref name="output"/> as produced by <paramref name="op"/> from <paramref name="inputs"/>.</summary>
    /// <remarks>
    /// <paramref name="release"/> runs once the graph is freed after Backward; ops use it to hand internal
    /// scratch (probabilities, dropout masks) back to the pool — never tensors a caller can hold.
    /// <paramref name="saved"/> lists the tensors whose data <paramref name="backward"/> reads; when omitted, every
    /// input and the output are assumed read. Tensors no node saves can be freed as soon as the forward pass no
    /// longer needs them (see <see cref="TensorScope.Stage(Func{Tensor}, List{Tensor}?)"/>).
    /// </remarks>
    /// <paramref name="recomputable"/> is the output when the op set a refill for it (<see cref="OpRecorder.SaveRecomputable"/>).
    public static void Record(Tensor output, string op, Tensor[] inputs, Action<Tensor> backward, Action? release = null, Tensor[]? saved = null,
        Tensor? recomputable = null)
    {
        if (saved == null)
        {
            saved = new Tensor[inputs.Length + 1];
            inputs.CopyTo(saved, 0);
            saved[^1] = output;
        }
        foreach (var t in saved) t.SavedBy++;
        output.RequiresGrad = true;
        output.GradFn = new GradNode(op, inputs, backward, release, saved, recomputable);
    }

    /// <summary>
    /// The gradient buffer an op's backward writes <paramref name="x"/>'s gradient into. When
    /// <paramref name="accumulate"/> is false the buffer is new and its contents arbitrary: the op must overwrite
    /// every element. Returns false when <paramref name="x"/> needs no gradient.
    /// </summary>
    public static bool Target(Tensor x, out Tensor grad, out bool accumulate)
    {
        grad = null!;
        accumulate = false;
        if (!x.RequiresGrad) return false;
        Tensor? existing = x.IsLeaf ? x.Grad : x.PendingGrad;
        if (existing != null)
        {
            if (existing.Length != x.Length)
                throw new InvalidOperationException($"Gradient of {x} has {existing.Length} elements, the tensor {x.Length}.");
            grad = existing;
            accumulate = true;
            return true;
        }
        if (x.IsLeaf)
        {
            // A leaf's gradient outlives the step (accumulation) and any TensorScope.
            grad = Tensor.EmptyUntracked(x.Shape, packed: true);
            grad.Persistent = true;
            x.Grad = grad;
        }
        else
        {
            grad = Tensor.Empty(x.Shape);
            x.PendingGrad = grad;
        }
        return true;
    }

    /// <summary>
    /// <see cref="Target"/> for elementwise backward passes that may write x's gradient over the incoming gradient
    /// <paramref name="g"/>: when x has no gradient yet and g (the buffer backward is reading, of x's shape) is
    /// backward's own, x's gradient becomes that buffer instead of a new one, and backward holds one buffer of that
    /// size fewer. The op must then read each element of g before writing the same element of the result.
    /// </summary>
    public static bool TargetOver(Tensor x, Tensor g, out Tensor grad, out bool accumulate)
    {
        if (x.RequiresGrad && !x.IsLeaf && x.PendingGrad == null && g.IncomingGradient && g.HasOneView && g.Shape.AsSpan().SequenceEqual(x.Shape))
        {
            g.IncomingGradient = false; // x's now: Run hands it back after x's op has used it
            x.PendingGrad = g;
            grad = g;
            accumulate = false;
            return true;
        }
        return Target(x, out grad, out accumulate);
    }

    /// <summary>Writes (or adds) <paramref name="src"/> into <paramref name="x"/>'s gradient.</summary>
    public static void Send(Tensor x, ReadOnlySpan<float> src)
    {
        if (!Target(x, out var g, out bool acc)) return;
        if (acc) System.Numerics.Tensors.TensorPrimitives.Add(g.Span, src, g.Span);
        else src.CopyTo(g.Span);
    }

    public static void Run(Tensor root, Tensor seed, bool retainGraph)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException($"Backward() on {root}, which does not require grad: no parameter it depends on has RequiresGrad set, or it was computed under NoGrad.");
        if (seed.Length != root.Length)
            throw new ArgumentException($"Backward gradient has shape {Tensor.ShapeString(seed.Shape)}, the tensor {Tensor.ShapeString(root.Shape)}.");
        var order = TopologicalOrder(root);
        Send(root, seed.Span);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            Tensor t = order[i];
            GradNode? node = t.GradFn;
            if (node == null)
            {
                // Inputs come before the ops that read them, so every op reading this leaf has already run.
                t.GradAccumulated?.Invoke(t);
                continue;
            }
            Tensor? g = t.PendingGrad;
            t.PendingGrad = null;
            if (g != null)
            {
                g.IncomingGradient = true;
                node.BackwardFn!(g);
                // The node holds what its backward reads (inputs, saved tensors, scratch through its release), and
                // the gradients it writes hang off their tensors: kept reachable while kernels hold raw pointers.
                GC.KeepAlive(node);
                if (g.IncomingGradient) g.Dispose(); // else an input's gradient now (TargetOver)
                g.IncomingGradient = false;
            }
            if (!retainGraph) node.Release();
        }
    }

    /// <summary>Tensors reachable from root through recorded ops, inputs before the ops that consume them.</summary>
    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor T, int Next)>();
        visited.Add(root);
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (t, next) = stack.Pop();
            GradNode? node = t.GradFn;
            if (node != null && node.Freed)
                throw new FinetuneException(ErrorKind.InvalidInput,
                    $"Backward() reached {t} (made by op '{node.Op}') whose graph was already freed by an earlier Backward(); run the forward pass again, or pass retainGraph: true to the first Backward().");
            Tensor[] inputs = node?.Inputs ?? Array.Empty<Tensor>();
            if (next < inputs.Length)
            {
                stack.Push((t, next + 1));
                Tensor c = inputs[next];
                if (c.RequiresGrad && visited.Add(c)) stack.Push((c, 0));
                continue;
            }
            order.Add(t);
        }
        return order;
    }
}
