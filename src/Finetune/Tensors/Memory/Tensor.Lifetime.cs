namespace Finetune.Tensors;

// A tensor's buffer lifetime: what scopes, stages and the op recorder decide about it. Not part of the public surface.
public sealed partial class Tensor
{
    /// <summary>Parameters and leaf gradients: a <see cref="TensorScope"/> never releases them.</summary>
    internal bool Persistent { get; set; }

    /// <summary>Whether no view shares this tensor's buffer.</summary>
    internal bool HasOneView => !_disposed && Volatile.Read(ref _storage.Refs) == 1;

    /// <summary>
    /// Set on an intermediate that nothing outside the graph can reach (made inside a finished
    /// <see cref="TensorScope.Stage(Func{Tensor}, List{Tensor}?)"/>): it is disposed as soon as <see cref="SavedBy"/> drops to zero in Backward.
    /// </summary>
    internal bool FreeWhenUnsaved { get; set; }

    /// <summary>Writes this tensor's values into (array, offset) again from the op's saved inputs.</summary>
    internal delegate void Refill(float[] array, int offset);

    /// <summary>
    /// Set by ops whose output is cheap to compute again from inputs backward keeps anyway (GELU from its input):
    /// such an intermediate may give its buffer back after the forward pass (<see cref="DropUntilRead"/>) and is
    /// recomputed, bit for bit, when backward first reads it.
    /// </summary>
    internal Refill? Recompute { get; set; }

    /// <summary>
    /// Hands the buffer back to the pool until the data is read again, when <see cref="Recompute"/> refills a new
    /// one. Only for a tensor with no views; returns false (and keeps the data) otherwise.
    /// </summary>
    internal bool DropUntilRead()
    {
        if (_disposed || Recompute == null || Volatile.Read(ref _storage.Refs) != 1) return false;
        _disposed = true;
        _storage.Refs = 0;
        BufferPool.Return(_storage.Array);
        return true;
    }

    /// <summary>Whether the buffer was handed back by <see cref="DropUntilRead"/> and will be refilled on the next read.</summary>
    internal bool IsDropped => Volatile.Read(ref _disposed) && Recompute != null;

    /// <summary>Whether the tensor has its buffer now (false once disposed, or dropped until read).</summary>
    internal bool HoldsData => !Volatile.Read(ref _disposed);

    /// <summary>
    /// Called as the op that made this tensor is freed, before the inputs its refill reads go away: a tensor still
    /// dropped then is formed now, while it still can be (a caller may hold it), and the refill is forgotten.
    /// </summary>
    internal void KeepRecomputed()
    {
        if (Recompute == null) return;
        if (IsDropped) Recomputed();
        Recompute = null;
    }

    /// <summary>The slow path of a read after <see cref="Dispose"/> or <see cref="DropUntilRead"/>.</summary>
    private void Recomputed()
    {
        lock (this)
        {
            if (!_disposed) return;
            Refill refill = Recompute ?? throw new ObjectDisposedException(ToString(), "The tensor was disposed (its buffer is back in the pool).");
            float[] arr = BufferPool.Rent(Length, out int off);
            refill(arr, off);
            GC.KeepAlive(refill); // its closure holds the tensors the refill reads through raw pointers
            _storage = new Storage(arr, off);
            Recompute = null;
            Volatile.Write(ref _disposed, false);
        }
    }
}
