using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Finetune.Hub;

namespace Finetune.Onnx;

/// <summary>
/// The bytes of an ONNX file, read-only: a memory-mapped file (or a window of one, for a resource inside a DLL)
/// or, for any other stream, one array of the stream's length. Protobuf messages are limited to 2 GB, so is this.
/// </summary>
internal sealed unsafe class OnnxBuffer : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte[]? _array;
    private readonly byte* _ptr;
    private GCHandle _pin;

    private OnnxBuffer(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* ptr, int length)
    {
        _map = map;
        _view = view;
        _ptr = ptr;
        Length = length;
    }

    private OnnxBuffer(byte[] array, int length)
    {
        _array = array;
        _pin = GCHandle.Alloc(array, GCHandleType.Pinned);
        _ptr = (byte*)_pin.AddrOfPinnedObject();
        Length = length;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => new(_ptr, Length);

    /// <summary>Maps [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="path"/>.</summary>
    public static OnnxBuffer Map(string path, long offset, long length, string displayName)
    {
        if (length > int.MaxValue)
            throw new FinetuneException(ErrorKind.Unsupported, $"ONNX file '{displayName}' is {length} bytes; protobuf messages over 2 GB are not supported (store the weights as external data).");
        if (length == 0) return new OnnxBuffer([], 0);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* ptr = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(offset, length, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            return new OnnxBuffer(map, view, ptr + view.PointerOffset, (int)length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (ptr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            throw new FinetuneException(ErrorKind.Io, $"Could not read ONNX file '{displayName}': {e.Message}", e);
        }
    }

    /// <summary>A resource inside a DLL is mapped in place; any other stream is read once into memory.</summary>
    public static OnnxBuffer FromStream(Stream stream, string displayName)
    {
        if (stream is ManifestResourceStream r) return Map(r.AssemblyPath, r.Offset, r.Length, displayName);
        if (stream is FileStream f && f.CanSeek && f.Position == 0) return Map(f.Name, 0, f.Length, displayName);
        try
        {
            if (stream.CanSeek)
            {
                long length = stream.Length - stream.Position;
                if (length > int.MaxValue)
                    throw new FinetuneException(ErrorKind.Unsupported, $"ONNX file '{displayName}' is {length} bytes; protobuf messages over 2 GB are not supported.");
                byte[] data = GC.AllocateUninitializedArray<byte>((int)length);
                stream.ReadExactly(data);
                return new OnnxBuffer(data, data.Length);
            }
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            if (ms.Length > int.MaxValue)
                throw new FinetuneException(ErrorKind.Unsupported, $"ONNX file '{displayName}' is over 2 GB, which protobuf does not support.");
            return new OnnxBuffer(ms.GetBuffer(), (int)ms.Length);
        }
        catch (EndOfStreamException e)
        {
            throw FinetuneException.Invalid($"ONNX file '{displayName}' ended early: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read ONNX file '{displayName}': {e.Message}", e);
        }
    }

    public void Dispose()
    {
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map!.Dispose();
        }
        if (_array != null && _pin.IsAllocated) _pin.Free();
    }
}
