using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Finetune.Hub;

/// <summary>
/// Reads an embedded manifest resource of a .NET assembly file with System.Reflection.Metadata, without loading
/// the assembly: the resource lies at the CLI header's Resources directory + the ManifestResource row's offset, as
/// a 4-byte little-endian length followed by the bytes.
/// </summary>
public static class ManifestResources
{
    /// <summary>The names of the resources embedded in <paramref name="assemblyPath"/>.</summary>
    public static IReadOnlyList<string> Names(string assemblyPath)
    {
        var names = new List<string>();
        Locate(assemblyPath, null, names);
        return names;
    }

    /// <summary>A stream over resource <paramref name="name"/>; NotFound when the file or resource is absent, Invalid when the file is not a .NET assembly.</summary>
    public static ManifestResourceStream Open(string assemblyPath, string name)
    {
        var (offset, length) = Locate(assemblyPath, name, null);
        var file = OpenFile(assemblyPath);
        return new ManifestResourceStream(file, assemblyPath, name, offset, length);
    }

    private static FileStream OpenFile(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (FileNotFoundException e)
        {
            throw FinetuneException.Missing($"Assembly '{path}' does not exist.", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw FinetuneException.Missing($"Assembly '{path}' does not exist.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read assembly '{path}': {e.Message}", e);
        }
    }

    /// <summary>File offset and length of resource <paramref name="name"/> (or, with <paramref name="names"/>, lists them all).</summary>
    private static (long Offset, long Length) Locate(string path, string? name, List<string>? names)
    {
        using var file = OpenFile(path);
        try
        {
            // Default options read headers and metadata on demand: the 90 MB image is not copied into memory.
            using var pe = new PEReader(file, PEStreamOptions.LeaveOpen);
            var cor = pe.PEHeaders.CorHeader ?? throw Bad(path, "it has no CLI header (not a .NET assembly)");
            var md = pe.GetMetadataReader();
            foreach (var handle in md.ManifestResources)
            {
                var res = md.GetManifestResource(handle);
                string resName = md.GetString(res.Name);
                names?.Add(resName);
                if (name == null || resName != name) continue;
                if (!res.Implementation.IsNil)
                    throw Bad(path, $"resource '{name}' is not embedded in the file (it lives in another file or assembly)");
                if (!pe.PEHeaders.TryGetDirectoryOffset(cor.ResourcesDirectory, out int dirOffset))
                    throw Bad(path, "its CLI resources directory lies outside every section");
                long start = (long)dirOffset + res.Offset;
                if (res.Offset < 0 || res.Offset + 4L > cor.ResourcesDirectory.Size || start + 4 > file.Length)
                    throw Bad(path, $"resource '{name}' starts past the end of the resources directory");
                Span<byte> len = stackalloc byte[4];
                file.Seek(start, SeekOrigin.Begin);
                file.ReadExactly(len);
                long length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(len);
                if (res.Offset + 4L + length > cor.ResourcesDirectory.Size || start + 4 + length > file.Length)
                    throw Bad(path, $"resource '{name}' ({length} bytes) runs past the end of the resources directory");
                return (start + 4, length);
            }
        }
        catch (BadImageFormatException e)
        {
            throw FinetuneException.Invalid($"'{path}' is not a valid .NET assembly: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw FinetuneException.Invalid($"'{path}' is truncated: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read assembly '{path}': {e.Message}", e);
        }
        if (name == null) return (0, 0);
        throw FinetuneException.Missing($"Assembly '{path}' has no manifest resource '{name}'.");
    }

    private static FinetuneException Bad(string path, string what) => FinetuneException.Invalid($"Assembly '{path}': {what}.");
}

/// <summary>A read-only, seekable window over one embedded resource inside an assembly file.</summary>
public sealed class ManifestResourceStream : Stream
{
    private readonly FileStream _file;
    private long _position;

    internal ManifestResourceStream(FileStream file, string assemblyPath, string resourceName, long offset, long length)
    {
        _file = file;
        AssemblyPath = assemblyPath;
        ResourceName = resourceName;
        Offset = offset;
        Length = length;
    }

    public string AssemblyPath { get; }

    public string ResourceName { get; }

    /// <summary>Where the resource's first byte lies in <see cref="AssemblyPath"/> (readers may map the file there).</summary>
    public long Offset { get; }

    public override long Length { get; }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        long left = Length - _position;
        if (left <= 0) return 0;
        if (buffer.Length > left) buffer = buffer[..(int)left];
        _file.Seek(Offset + _position, SeekOrigin.Begin);
        int n = _file.Read(buffer);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => Length + offset,
        };
        Position = target;
        return target;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _file.Dispose();
        base.Dispose(disposing);
    }
}
