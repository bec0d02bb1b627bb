namespace Finetune.Tensors;

/// <summary>
/// One op while it runs: the boundary between an op's arithmetic and the lifetimes of the buffers it touches. An
/// op begins with its inputs, declares what its backward keeps — <see cref="Save"/> (tensors backward reads),
/// <see cref="SaveRecomputable"/> (its output, which may give its buffer back and is formed again by a refill
/// when backward, or a caller, needs it), <see cref="Scratch"/> (buffers only the op reads, handed back once
/// backward has run) — and ends with <see cref="Record"/>, or <see cref="Finish"/> when nothing is recorded.
/// From <see cref="Begin"/> to that end the recorder holds every tensor it was given, so kernels may work on raw
/// pointers into them meanwhile; while backward runs, the graph holds them (<see cref="Autograd.Run"/>), and
/// while a refill runs, the tensor being refilled holds what the refill reads.
/// </summary>
internal sealed class OpRecorder
{
    private readonly string _name;
    private readonly Tensor[] _inputs;
    private Tensor[]? _saved;
    private List<IDisposable>? _scratch;
    private Tensor? _recomputable;
    private Tensor.Refill? _refill;

    private OpRecorder(string name, Tensor[] inputs, bool tracks)
    {
        _name = name;
        _inputs = inputs;
        Tracks = tracks;
    }

    /// <summary>Whether the op is recorded: gradients are on and an input requires grad.</summary>
    public bool Tracks { get; }

    /// <summary>Starts the op <paramref name="name"/> on <paramref name="inputs"/> (the tensors gradients flow back to).</summary>
    public static OpRecorder Begin(string name, params Tensor[] inputs)
    {
        bool tracks = false;
        if (Tensor.IsGradEnabled)
            foreach (var t in inputs)
                tracks |= t.RequiresGrad;
        return new OpRecorder(name, inputs, tracks);
    }

    /// <summary>The tensors whose data backward reads (by default every input and the output).</summary>
    public void Save(params Tensor[] saved) => _saved = saved;

    /// <summary>A buffer only this op reads: handed back when the graph is freed after backward, or at <see cref="Finish"/>.</summary>
    public T Scratch<T>(T buffer) where T : IDisposable
    {
        (_scratch ??= new()).Add(buffer);
        return buffer;
    }

    /// <summary>
    /// The output may give its buffer back after the forward pass (see <see cref="TensorScope.Stage(Func{Tensor}, List{Tensor}?)"/>):
    /// <paramref name="refill"/> forms it again, bit for bit, from what backward keeps anyway. When the graph is
    /// freed, an output still without its data (a caller may hold it) is refilled while its inputs still exist.
    /// </summary>
    public void SaveRecomputable(Tensor output, Tensor.Refill refill)
    {
        _recomputable = output;
        _refill = refill;
    }

    /// <summary>Records the op as <paramref name="output"/>'s maker with its backward; returns the output.</summary>
    public Tensor Record(Tensor output, Action<Tensor> backward)
    {
        if (!Tracks) return Finish(output);
        if (_recomputable != null) _recomputable.Recompute = _refill;
        var scratch = _scratch;
        Action? release = scratch == null ? null : () => DisposeAll(scratch);
        Autograd.Record(output, _name, _inputs, backward, release, _saved, _recomputable);
        GC.KeepAlive(_inputs);
        return output;
    }

    /// <summary>Ends an op that records nothing: its scratch goes back now. Returns the output.</summary>
    public Tensor Finish(Tensor output)
    {
        if (_scratch != null) DisposeAll(_scratch);
        GC.KeepAlive(_inputs);
        return output;
    }

    private static void DisposeAll(List<IDisposable> buffers)
    {
        foreach (var b in buffers) b.Dispose();
    }
}
