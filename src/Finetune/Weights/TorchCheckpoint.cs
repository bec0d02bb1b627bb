using System.Buffers;
using System.IO.Compression;

namespace Finetune.Weights;

/// <summary>The named tensors of a parsed torch.save checkpoint; data is read from the zip on demand.</summary>
public sealed class TorchCheckpoint : ITensorSource
{
    private readonly ZipArchive _zip;
    private readonly string _prefix;
    private readonly bool _bigEndian;
    private readonly Dictionary<string, TorchTensorRef> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorInfo> _infos = new(StringComparer.Ordinal);
    private readonly List<string> _names = new();
    private readonly object _lock = new();

    internal TorchCheckpoint(string path, ZipArchive zip, string prefix, bool bigEndian, List<(string Name, TorchTensorRef Ref)> tensors)
    {
        Path = path;
        _zip = zip;
        _prefix = prefix;
        _bigEndian = bigEndian;
        foreach (var (name, r) in tensors)
        {
            if (!_tensors.TryAdd(name, r)) throw FinetuneException.Invalid($"'{path}' holds tensor '{name}' twice.");
            var entry = zip.GetEntry(prefix + "data/" + r.Storage.Key)
                ?? throw FinetuneException.Invalid($"'{path}': tensor '{name}' uses storage '{r.Storage.Key}', which the archive does not contain.");
            long need = r.Storage.Numel * r.Storage.DType.Size();
            if (entry.Length != need)
                throw FinetuneException.Invalid($"'{path}': storage '{r.Storage.Key}' of tensor '{name}' holds {entry.Length} bytes, not the {need} bytes of {r.Storage.Numel} {r.Storage.DType} elements.");
            _infos[name] = new TensorInfo(name, r.Storage.DType, r.Shape);
            _names.Add(name);
        }
    }

    public string Path { get; }

    public IReadOnlyList<string> Names => _names;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo Info(string name) => _infos.TryGetValue(name, out var i) ? i : throw FinetuneException.Missing($"Tensor '{name}' is not in '{Path}'.");

    public void CopyTo(string name, Span<float> destination)
    {
        var info = Info(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"Tensor '{name}' has {info.ElementCount} elements but the destination holds {destination.Length}.");
        byte[] bytes = Gather(name, out int length);
        try
        {
            DTypeConvert.ToFloat(info.DType, bytes.AsSpan(0, length), destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    public long[] ReadInt64(string name)
    {
        var info = Info(name);
        if (info.DType.IsFloat()) throw FinetuneException.Invalid($"Tensor '{name}' in '{Path}' is {info.DType}, not an integer type.");
        byte[] bytes = Gather(name, out _);
        try
        {
            int size = info.DType.Size();
            var result = new long[info.ElementCount];
            for (int i = 0; i < result.Length; i++) result[i] = DTypeConvert.ReadInteger(info.DType, bytes.AsSpan(i * size, size));
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    public void Dispose()
    {
        lock (_lock) _zip.Dispose();
    }

    /// <summary>The tensor's elements in row-major order, little-endian, in a pooled buffer.</summary>
    private byte[] Gather(string name, out int length)
    {
        var r = _tensors[name];
        int size = r.Storage.DType.Size();
        long count = 1;
        foreach (int d in r.Shape) count *= d;
        length = checked((int)(count * size));
        byte[] result = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        if (count == 0) return result;
        long extent = 1;
        for (int i = 0; i < r.Shape.Length; i++) extent += (r.Shape[i] - 1L) * r.Strides[i];
        byte[] storage = ReadStorage(r.Storage.Key, r.Offset * size, checked((int)(extent * size)));
        try
        {
            if (IsContiguous(r.Shape, r.Strides))
            {
                storage.AsSpan(0, length).CopyTo(result);
            }
            else
            {
                // Materialise a strided view: walk the index odometer in row-major order.
                var index = new int[r.Shape.Length];
                for (long e = 0; e < count; e++)
                {
                    long src = 0;
                    for (int d = 0; d < index.Length; d++) src += index[d] * r.Strides[d];
                    storage.AsSpan((int)(src * size), size).CopyTo(result.AsSpan((int)(e * size)));
                    for (int d = index.Length - 1; d >= 0 && ++index[d] == r.Shape[d]; d--) index[d] = 0;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(storage);
        }
        if (_bigEndian && size > 1)
            for (int e = 0; e < length; e += size) result.AsSpan(e, size).Reverse();
        return result;
    }

    private static bool IsContiguous(int[] shape, long[] strides)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /// <summary>Reads <paramref name="length"/> bytes of storage <paramref name="key"/> starting at <paramref name="start"/>.</summary>
    private byte[] ReadStorage(string key, long start, int length)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        lock (_lock)
        {
            var entry = _zip.GetEntry(_prefix + "data/" + key)!;
            try
            {
                using var s = entry.Open();
                if (s.CanSeek) s.Seek(start, SeekOrigin.Begin);
                else SkipBytes(s, start);
                s.ReadExactly(buffer, 0, length);
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw FinetuneException.Invalid($"'{Path}': storage '{key}' could not be read (truncated or corrupt: {e.Message}).", e);
            }
        }
        return buffer;
    }

    private static void SkipBytes(Stream s, long count)
    {
        byte[] scratch = new byte[Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int n = s.Read(scratch, 0, (int)Math.Min(count, scratch.Length));
            if (n == 0) throw new EndOfStreamException();
            count -= n;
        }
    }
}
