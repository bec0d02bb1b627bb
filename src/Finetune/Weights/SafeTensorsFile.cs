using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace Finetune.Weights;

/// <summary>
/// One safetensors file, memory-mapped: the header is parsed and validated on open, and each tensor is copied
/// straight from the mapping into the caller's buffer (widened to float32) with no copy of the whole file.
/// </summary>
public sealed unsafe class SafeTensorsFile : ITensorSource
{
    /// <summary>The reference implementation refuses headers above 100 MB; so do we (a corrupt length is usually huge).</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, Entry> _entries;
    private readonly List<string> _names;
    private bool _disposed;

    private readonly record struct Entry(TensorInfo Info, long Begin, long End);

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        if (length < 8) throw Corrupt($"the file is {length} bytes long, too short to hold the 8-byte header length");
        ulong headerLength = *(ulong*)basePtr;
        if (headerLength > (ulong)(length - 8))
            throw Corrupt($"the header length {headerLength} runs past the end of the file ({length} bytes)");
        if (headerLength > MaxHeaderBytes) throw Corrupt($"the header length {headerLength} exceeds the 100 MB limit");
        _dataStart = 8 + (long)headerLength;
        (_entries, _names, Metadata) = ParseHeader(new ReadOnlySpan<byte>(basePtr + 8, (int)headerLength), length - _dataStart);
    }

    public string Path { get; }

    /// <summary>The free-form `__metadata__` string map (e.g. {"format": "pt"}).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IReadOnlyList<string> Names => _names;

    public static SafeTensorsFile Open(string path)
    {
        FileInfo fi = new(path);
        // A Hugging Face cache snapshot entry is a symbolic link into blobs/: measure the file it points to.
        if (fi.LinkTarget != null && fi.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) fi = target;
        if (!fi.Exists) throw FinetuneException.Missing($"Safetensors file '{path}' does not exist.");
        if (fi.Length < 8)
            throw FinetuneException.Invalid($"Corrupt safetensors file '{path}': the file is {fi.Length} bytes long, too short to hold the 8-byte header length.");
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* ptr = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            return new SafeTensorsFile(path, map, view, ptr, fi.Length);
        }
        catch (Exception e)
        {
            if (ptr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            if (e is FinetuneException) throw;
            if (e is IOException or UnauthorizedAccessException)
                throw new FinetuneException(ErrorKind.Io, $"Could not read safetensors file '{path}': {e.Message}", e);
            throw;
        }
    }

    public bool Contains(string name) => _entries.ContainsKey(name);

    public TensorInfo Info(string name) => Get(name).Info;

    public void CopyTo(string name, Span<float> destination)
    {
        Entry e = Get(name);
        long count = e.Info.ElementCount;
        if (destination.Length != count)
            throw new ArgumentException($"Tensor '{name}' has {count} elements but the destination holds {destination.Length}.");
        int size = e.Info.DType.Size();
        const int Chunk = 1 << 24;
        for (long start = 0; start < count; start += Chunk)
        {
            int n = (int)Math.Min(Chunk, count - start);
            var src = new ReadOnlySpan<byte>(_base + _dataStart + e.Begin + start * size, n * size);
            DTypeConvert.ToFloat(e.Info.DType, src, destination.Slice((int)start, n));
        }
    }

    public long[] ReadInt64(string name)
    {
        Entry e = Get(name);
        if (e.Info.DType.IsFloat())
            throw FinetuneException.Invalid($"Tensor '{name}' in '{Path}' is {e.Info.DType.SafeTensorsName()}, not an integer type.");
        var result = new long[checked((int)e.Info.ElementCount)];
        int size = e.Info.DType.Size();
        var src = RawBytes(name);
        for (int i = 0; i < result.Length; i++) result[i] = DTypeConvert.ReadInteger(e.Info.DType, src.Slice(i * size, size));
        return result;
    }

    /// <summary>The tensor's stored bytes, exactly as in the file (tensors under 2 GB).</summary>
    public ReadOnlySpan<byte> RawBytes(string name)
    {
        Entry e = Get(name);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ReadOnlySpan<byte>(_base + _dataStart + e.Begin, checked((int)(e.End - e.Begin)));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private Entry Get(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _entries.TryGetValue(name, out var e) ? e : throw FinetuneException.Missing($"Tensor '{name}' is not in '{Path}'.");
    }

    private FinetuneException Corrupt(string what) => FinetuneException.Invalid($"Corrupt safetensors file '{Path}': {what}.");

    private (Dictionary<string, Entry>, List<string>, IReadOnlyDictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = SafeJson.ParseDocument(header.ToArray(), $"{Path} (header)");
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"Corrupt safetensors file '{Path}': the header is not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Corrupt("the header is not a JSON object");
            var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
            var names = new List<string>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw Corrupt("__metadata__ is not an object of strings");
                    foreach (JsonProperty m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Corrupt($"__metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                if (entries.ContainsKey(p.Name)) throw Corrupt($"tensor '{p.Name}' is listed twice");
                entries[p.Name] = ParseEntry(p.Name, p.Value, dataLength);
                names.Add(p.Name);
            }
            CheckContiguous(entries, dataLength);
            return (entries, names, metadata);
        }
    }

    private Entry ParseEntry(string name, JsonElement v, long dataLength)
    {
        if (v.ValueKind != JsonValueKind.Object) throw Corrupt($"the entry of tensor '{name}' is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw Corrupt($"tensor '{name}' has no dtype string");
        string dtypeName = dt.GetString()!;
        DType dtype = DTypes.FromSafeTensorsName(dtypeName)
            ?? throw new FinetuneException(ErrorKind.Unsupported, $"Safetensors file '{Path}': tensor '{name}' has dtype '{dtypeName}', which is not supported (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL are).");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Corrupt($"tensor '{name}' has no shape array");
        var shape = new int[sh.GetArrayLength()];
        int k = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw Corrupt($"tensor '{name}' has an invalid shape entry {d.GetRawText()}");
            shape[k++] = dim;
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Corrupt($"tensor '{name}' has no [begin, end] data_offsets");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Corrupt($"tensor '{name}' has invalid data_offsets {off.GetRawText()}");
        if (end > dataLength)
            throw Corrupt($"tensor '{name}' data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes)");
        var info = new TensorInfo(name, dtype, shape);
        long expected;
        try
        {
            expected = checked(info.ElementCount * dtype.Size());
        }
        catch (OverflowException)
        {
            throw Corrupt($"tensor '{name}' has a shape {info.ShapeText} too large to address");
        }
        if (expected != end - begin)
            throw Corrupt($"tensor '{name}' is {dtypeName} {info.ShapeText} = {expected} bytes but its data_offsets span {end - begin} bytes");
        return new Entry(info, begin, end);
    }

    /// <summary>The data section must be covered exactly: no gap, no overlap, nothing left over (as the reference reader checks).</summary>
    private void CheckContiguous(Dictionary<string, Entry> entries, long dataLength)
    {
        var sorted = new List<Entry>(entries.Values);
        sorted.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long cursor = 0;
        string? previous = null;
        foreach (Entry e in sorted)
        {
            if (e.Begin < cursor)
                throw Corrupt($"tensor '{e.Info.Name}' data [{e.Begin}, {e.End}] overlaps tensor '{previous}' (which ends at {cursor})");
            if (e.Begin > cursor)
                throw Corrupt(previous == null
                    ? $"tensor '{e.Info.Name}' starts at byte {e.Begin}, leaving a gap at the start of the data"
                    : $"there is a gap of {e.Begin - cursor} bytes between tensor '{previous}' and tensor '{e.Info.Name}'");
            cursor = e.End;
            previous = e.Info.Name;
        }
        if (cursor != dataLength)
            throw Corrupt(previous == null
                ? $"the header lists no tensors but {dataLength} data bytes follow it"
                : $"{dataLength - cursor} bytes after the last tensor '{previous}' are not covered by any tensor");
    }
}
