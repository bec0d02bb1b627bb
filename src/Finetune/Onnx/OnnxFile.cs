using Finetune.Weights;

namespace Finetune.Onnx;

/// <summary>A parsed ONNX model and its bytes: reads any initializer or constant out as float32 or int64.</summary>
internal sealed class OnnxFile : IDisposable
{
    private readonly OnnxBuffer _buffer;

    private OnnxFile(string displayName, OnnxBuffer buffer, OnnxGraph graph)
    {
        DisplayName = displayName;
        _buffer = buffer;
        Graph = graph;
    }

    /// <summary>The path (or the "package!resource" name) messages use.</summary>
    public string DisplayName { get; }

    public OnnxGraph Graph { get; }

    public static OnnxFile Open(string path)
    {
        var fi = new FileInfo(path);
        if (fi.LinkTarget != null && fi.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) fi = target;
        if (!fi.Exists) throw FinetuneException.Missing($"ONNX file '{path}' does not exist.");
        var buffer = OnnxBuffer.Map(fi.FullName, 0, fi.Length, path);
        return Parse(path, buffer, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>A model from a stream (a resource inside a package's DLL, or any other): external data is refused.</summary>
    public static OnnxFile Load(Stream stream, string displayName) => Parse(displayName, OnnxBuffer.FromStream(stream, displayName), null);

    private static OnnxFile Parse(string displayName, OnnxBuffer buffer, string? baseDir)
    {
        try
        {
            return new OnnxFile(displayName, buffer, OnnxParser.Parse(buffer.Span, baseDir));
        }
        catch (ProtoFormatException e)
        {
            buffer.Dispose();
            throw FinetuneException.Invalid($"Corrupt ONNX file '{displayName}': {e.Message}.", e);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    public FinetuneException Error(string what) => FinetuneException.Invalid($"ONNX file '{DisplayName}': {what}.");

    /// <summary>Copies <paramref name="t"/> into <paramref name="destination"/> (ElementCount long) as float32.</summary>
    public void CopyTo(OnnxTensor t, Span<float> destination)
    {
        if (destination.Length != t.ElementCount)
            throw new ArgumentException($"Tensor '{t.Name}' has {t.ElementCount} elements but the destination holds {destination.Length}.");
        DType type = t.DType ?? throw new FinetuneException(ErrorKind.Unsupported, $"ONNX file '{DisplayName}': tensor '{t.Name}' has type {t.DataType}, which is not supported as a weight.");
        switch (t.Storage)
        {
            case OnnxStorage.Raw:
                DTypeConvert.ToFloat(type, _buffer.Span.Slice((int)t.Offset, (int)t.ByteLength), destination);
                break;
            case OnnxStorage.External:
                ReadExternal(t, type, destination);
                break;
            default:
                if (t.Floats != null) t.Floats.CopyTo(destination);
                else if (t.Doubles != null) for (int i = 0; i < destination.Length; i++) destination[i] = (float)t.Doubles[i];
                else if (t.DataType == OnnxDataType.Float16) for (int i = 0; i < destination.Length; i++) destination[i] = (float)BitConverter.UInt16BitsToHalf((ushort)t.Longs![i]);
                else if (t.DataType == OnnxDataType.BFloat16) for (int i = 0; i < destination.Length; i++) destination[i] = BitConverter.UInt32BitsToSingle((uint)(ushort)t.Longs![i] << 16);
                else for (int i = 0; i < destination.Length; i++) destination[i] = t.Longs![i];
                break;
        }
    }

    public float[] ReadFloat(OnnxTensor t)
    {
        var data = new float[t.ElementCount];
        CopyTo(t, data);
        return data;
    }

    /// <summary>An integer tensor (shape constants) as int64.</summary>
    public long[] ReadInt64(OnnxTensor t)
    {
        DType type = t.DType ?? throw Error($"tensor '{t.Name}' has type {t.DataType}, which is not supported");
        if (type.IsFloat()) throw Error($"tensor '{t.Name}' is {t.DataType}, not an integer type");
        if (t.Storage == OnnxStorage.Typed) return (long[])t.Longs!.Clone();
        var bytes = t.Storage == OnnxStorage.Raw ? _buffer.Span.Slice((int)t.Offset, (int)t.ByteLength).ToArray() : ReadExternalBytes(t, 0, (int)t.ByteLength);
        int size = type.Size();
        var result = new long[t.ElementCount];
        for (int i = 0; i < result.Length; i++) result[i] = DTypeConvert.ReadInteger(type, bytes.AsSpan(i * size, size));
        return result;
    }

    /// <summary>The stored bytes of a raw-data tensor, exactly as in the file (for bit-exact checks).</summary>
    public ReadOnlySpan<byte> RawBytes(OnnxTensor t) =>
        t.Storage == OnnxStorage.Raw ? _buffer.Span.Slice((int)t.Offset, (int)t.ByteLength) : throw new InvalidOperationException($"'{t.Name}' is not raw data");

    private void ReadExternal(OnnxTensor t, DType type, Span<float> destination)
    {
        int size = type.Size();
        const int ChunkElements = 1 << 18;
        for (long start = 0; start < destination.Length; start += ChunkElements)
        {
            int n = (int)Math.Min(ChunkElements, destination.Length - start);
            byte[] bytes = ReadExternalBytes(t, start * size, n * size);
            DTypeConvert.ToFloat(type, bytes.AsSpan(0, n * size), destination.Slice((int)start, n));
        }
    }

    private byte[] ReadExternalBytes(OnnxTensor t, long offset, int count)
    {
        try
        {
            using var f = new FileStream(t.ExternalPath!, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            f.Seek(t.Offset + offset, SeekOrigin.Begin);
            var bytes = new byte[count];
            f.ReadExactly(bytes);
            return bytes;
        }
        catch (EndOfStreamException e)
        {
            throw FinetuneException.Invalid($"ONNX file '{DisplayName}': external data file '{t.ExternalPath}' of tensor '{t.Name}' ended early.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read external data '{t.ExternalPath}' of ONNX file '{DisplayName}': {e.Message}", e);
        }
    }

    public void Dispose() => _buffer.Dispose();
}
