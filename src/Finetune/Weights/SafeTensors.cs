using System.Text;
using System.Text.Json;

namespace Finetune.Weights;

/// <summary>One tensor to write: its name, shape and float32 data.</summary>
public readonly record struct NamedTensor(string Name, int[] Shape, ReadOnlyMemory<float> Data);

/// <summary>Reads and writes the safetensors format (8-byte little-endian header length, JSON header, raw data).</summary>
public static class SafeTensors
{
    /// <summary>Opens <paramref name="path"/> memory-mapped after validating its header. Dispose it when done.</summary>
    public static SafeTensorsFile Read(string path) => SafeTensorsFile.Open(path);

    /// <summary>
    /// Writes tensors sorted by name (as the reference writer orders a single-dtype file), with `__metadata__`
    /// (default {"format": "pt"}) and the header padded with spaces to a multiple of 8 bytes. Atomic.
    /// </summary>
    public static void Write(string path, IEnumerable<NamedTensor> tensors, DType dtype = DType.F32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new FinetuneException(ErrorKind.Unsupported, $"Cannot write '{path}' as {dtype}: use F32, F16 or BF16.");
        var list = new List<NamedTensor>(tensors);
        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (!seen.Add(t.Name)) throw FinetuneException.Invalid($"Cannot write '{path}': tensor '{t.Name}' is given twice.");
            long count = 1;
            foreach (int d in t.Shape) count *= d;
            if (count != t.Data.Length)
                throw new ArgumentException($"Tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}] ({count} elements) but {t.Data.Length} values.");
        }
        byte[] header = BuildHeader(list, dtype, metadata ?? new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            byte[] buffer = new byte[1 << 20];
            int perChunk = buffer.Length / dtype.Size();
            foreach (var t in list)
            {
                var data = t.Data.Span;
                for (int start = 0; start < data.Length; start += perChunk)
                {
                    int n = Math.Min(perChunk, data.Length - start);
                    DTypeConvert.FromFloat(dtype, data.Slice(start, n), buffer);
                    stream.Write(buffer, 0, n * dtype.Size());
                }
            }
        });
    }

    private static byte[] BuildHeader(List<NamedTensor> list, DType dtype, IReadOnlyDictionary<string, string> metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata.OrderBy(k => k.Key, StringComparer.Ordinal)) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                long bytes = (long)t.Data.Length * dtype.Size();
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", dtype.SafeTensorsName());
                w.WriteStartArray("shape");
                foreach (int d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int padding = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < padding; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    /// <summary>Name of the n-th (1-based) of <paramref name="total"/> shards, as transformers names them.</summary>
    public static string ShardName(int n, int total) => $"model-{n:D5}-of-{total:D5}.safetensors";

    internal static string Utf8(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);
}
