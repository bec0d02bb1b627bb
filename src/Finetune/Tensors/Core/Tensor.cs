using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Finetune.Tensors;

/// <summary>
/// A float32 tensor: contiguous, row-major, on a pooled 64-byte-aligned buffer, with reverse-mode autograd.
/// Ops live in <c>Finetune.Nn.F</c>; each records how to send gradients back to its inputs, and
/// <see cref="Backward()"/> on a scalar walks that record once, accumulating into the <see cref="Grad"/> of
/// leaves that have <see cref="RequiresGrad"/> set (parameters). Gradients add up across Backward calls until
/// <see cref="ZeroGrad"/>. Inside <c>using (Tensor.NoGrad())</c> nothing is recorded.
/// Disposing a tensor hands its buffer back to the pool; tensors not disposed are simply collected.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    [ThreadStatic] private static int _noGradDepth;

    private Storage _storage;
    private bool _disposed;
    private bool _requiresGrad;

    private Tensor(Storage storage, int[] shape, int length)
    {
        _storage = storage;
        Shape = shape;
        Length = length;
    }

    /// <summary>The size of each dimension (do not modify).</summary>
    public int[] Shape { get; }

    public int Rank => Shape.Length;

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    /// <summary>The data, row-major.</summary>
    public Span<float> Span
    {
        get
        {
            if (_disposed) Recomputed();
            return new(_storage.Array, _storage.Offset, Length);
        }
    }

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward()"/>; null until a gradient reaches it.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>
    /// Called during <see cref="Backward()"/> once this leaf's gradient for that pass is complete: every op that
    /// reads the leaf has sent its share (torch's post-accumulate-grad hook). Data-parallel training uses it to start
    /// averaging a bucket of gradients while backward still computes the others.
    /// </summary>
    public Action<Tensor>? GradAccumulated { get; set; }

    /// <summary>Whether gradients flow to this tensor. Settable on leaves (tensors not produced by an op).</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (GradFn != null && !value)
                throw new InvalidOperationException("RequiresGrad can only be cleared on a leaf tensor; use Detach() instead.");
            _requiresGrad = value;
        }
    }

    /// <summary>True for tensors not produced by a recorded op (parameters, inputs).</summary>
    public bool IsLeaf => GradFn == null;

    /// <summary>Optional name used in error messages (modules set it to the parameter's dotted name).</summary>
    public string? Name { get; set; }

    /// <summary>The recorded op that produced this tensor, or null for a leaf.</summary>
    internal GradNode? GradFn { get; set; }

    /// <summary>Whether ops currently record the graph on this thread.</summary>
    public static bool IsGradEnabled => _noGradDepth == 0;

    /// <summary>A scope in which ops record nothing (inference, evaluation, optimizer updates).</summary>
    public static NoGradScope NoGrad()
    {
        _noGradDepth++;
        return new NoGradScope(true);
    }

    internal static void ExitNoGrad() => _noGradDepth--;

    // ---- factories ----

    /// <summary>A tensor with arbitrary contents (for ops that overwrite every element).</summary>
    internal static Tensor Empty(params int[] shape)
    {
        var t = EmptyUntracked(shape);
        TensorScope.Track(t);
        return t;
    }

    /// <summary>Like <see cref="Empty"/> but never released by a <see cref="TensorScope"/> (gradients of leaves).</summary>
    internal static Tensor EmptyUntracked(int[] shape, bool packed = false)
    {
        int n = CheckedLength(shape);
        float[] arr = packed ? BufferPool.RentPacked(n, out int off) : BufferPool.Rent(n, out off);
        return new Tensor(new Storage(arr, off), (int[])shape.Clone(), n);
    }

    public static Tensor Zeros(params int[] shape)
    {
        var t = Empty(shape);
        t.Span.Clear();
        return t;
    }

    public static Tensor Ones(params int[] shape) => Full(1f, shape);

    public static Tensor Full(float value, params int[] shape)
    {
        var t = Empty(shape);
        t.Span.Fill(value);
        return t;
    }

    /// <summary>A rank-0 tensor holding one value.</summary>
    public static Tensor Scalar(float value) => Full(value);

    /// <summary>A tensor holding a copy of <paramref name="data"/>; the shape defaults to [data.Length].</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (shape.Length == 0 && data.Length != 1) shape = new[] { data.Length };
        var t = Empty(shape);
        if (t.Length != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values do not fill shape [{string.Join(", ", shape)}] ({t.Length} elements).");
        data.AsSpan().CopyTo(t.Span);
        return t;
    }

    /// <summary>A tensor of standard-normal samples times <paramref name="std"/>.</summary>
    public static Tensor Randn(Generator rng, float std, params int[] shape)
    {
        var t = Empty(shape);
        rng.FillNormal(t.Span, 0f, std);
        return t;
    }

    /// <summary>A tensor of uniform samples in [lo, hi).</summary>
    public static Tensor Rand(Generator rng, float lo, float hi, params int[] shape)
    {
        var t = Empty(shape);
        rng.FillUniform(t.Span, lo, hi);
        return t;
    }

    // ---- accessors ----

    public float[] ToArray() => Span.ToArray();

    /// <summary>The single value of a one-element tensor (a loss).</summary>
    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, this one has shape {ShapeString(Shape)}.");
        return Span[0];
    }

    /// <summary>Size of dimension <paramref name="dim"/>; negative counts from the end.</summary>
    public int Size(int dim) => Shape[dim < 0 ? dim + Rank : dim];

    internal unsafe float* Data
    {
        get
        {
            if (_disposed) Recomputed();
            return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage.Array)) + _storage.Offset;
        }
    }

    /// <summary>A tensor sharing this one's data but outside the graph.</summary>
    public Tensor Detach() => View(Shape);

    /// <summary>A copy of the data, outside the graph.</summary>
    public Tensor CloneDetached()
    {
        var t = Empty(Shape);
        Span.CopyTo(t.Span);
        return t;
    }

    /// <summary>The same data under another shape (one dimension may be -1); a view, no copy; gradients flow through.</summary>
    public Tensor Reshape(params int[] shape)
    {
        Tensor y = View(ResolveShape(shape));
        if (Autograd.Tracks(this)) Autograd.Record(y, "Reshape", [this], g => Autograd.Send(this, g.Span), saved: []);
        return y;
    }

    private int[] ResolveShape(int[] shape)
    {
        int infer = Array.IndexOf(shape, -1);
        if (infer < 0) return shape;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
            if (i != infer) known *= shape[i];
        if (known == 0 || Length % known != 0)
            throw new ArgumentException($"Cannot reshape {ShapeString(Shape)} to {ShapeString(shape)}.");
        var r = (int[])shape.Clone();
        r[infer] = (int)(Length / known);
        return r;
    }

    /// <summary>A new tensor object sharing this storage (for reshape views).</summary>
    internal Tensor View(int[] shape)
    {
        int n = CheckedLength(shape);
        if (n != Length) throw new ArgumentException($"Cannot view a tensor of shape {ShapeString(Shape)} as {ShapeString(shape)}.");
        if (_disposed) Recomputed();
        Interlocked.Increment(ref _storage.Refs);
        var t = new Tensor(_storage, (int[])shape.Clone(), n);
        TensorScope.Track(t);
        return t;
    }

    // ---- autograd ----

    /// <summary>Backpropagates from this scalar (loss), accumulating into the Grad of every reachable leaf.</summary>
    public void Backward(bool retainGraph = false)
    {
        if (Length != 1)
            throw new InvalidOperationException($"Backward() without a gradient needs a scalar, this tensor has shape {ShapeString(Shape)}.");
        using var seed = Ones(Shape);
        Backward(seed, retainGraph);
    }

    /// <summary>Backpropagates <paramref name="gradient"/> (same shape as this tensor).</summary>
    public void Backward(Tensor gradient, bool retainGraph = false) => Autograd.Run(this, gradient, retainGraph);

    /// <summary>Forgets the accumulated gradient (like torch's zero_grad(set_to_none=True): Grad becomes null).</summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>Hands the buffer back to the pool. The tensor (and any view of it) must not be used afterwards.</summary>
    public void Dispose()
    {
        Recompute = null;
        if (_disposed) return;
        _disposed = true;
        if (Interlocked.Decrement(ref _storage.Refs) == 0) BufferPool.Return(_storage.Array);
    }

    public override string ToString() => $"Tensor{ShapeString(Shape)}{(Name != null ? " " + Name : "")}{(GradFn != null ? " grad_fn=" + GradFn.Op : "")}";

    internal static string ShapeString(int[] shape) => "[" + string.Join(", ", shape) + "]";

    internal static int CheckedLength(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape {ShapeString(shape)}.");
            n *= d;
            if (n > Array.MaxLength - 64) throw new ArgumentException($"Shape {ShapeString(shape)} has too many elements for one tensor.");
        }
        return (int)n;
    }

    private sealed class Storage(float[] array, int offset)
    {
        public readonly float[] Array = array;
        public readonly int Offset = offset;
        public int Refs = 1;
    }
}

/// <summary>Restores gradient recording when disposed.</summary>
public readonly struct NoGradScope(bool active) : IDisposable
{
    public void Dispose()
    {
        if (active) Tensor.ExitNoGrad();
    }
}
