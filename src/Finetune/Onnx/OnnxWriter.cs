using System.Buffers.Binary;
using System.Text;

namespace Finetune.Onnx;

/// <summary>
/// The protobuf wire format, written: varints, length-delimited fields and packed repeats, as onnx.proto's
/// ModelProto needs. A nested message is built in its own buffer first so its length can precede it.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream buffer = new();

    public long Length => buffer.Length;

    public void Varint(int field, long value)
    {
        Tag(field, 0);
        RawVarint((ulong)value);
    }

    public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        RawVarint((ulong)value.Length);
        buffer.Write(value);
    }

    public void Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, value);
        buffer.Write(b);
    }

    /// <summary>A repeated int64 field, packed.</summary>
    public void PackedVarints(int field, ReadOnlySpan<long> values)
    {
        var inner = new ProtoWriter();
        foreach (long v in values) inner.RawVarint((ulong)v);
        Message(field, inner);
    }

    public void Message(int field, ProtoWriter message)
    {
        Tag(field, 2);
        RawVarint((ulong)message.Length);
        message.buffer.Position = 0;
        message.buffer.CopyTo(buffer);
    }

    public void CopyTo(Stream stream)
    {
        buffer.Position = 0;
        buffer.CopyTo(stream);
    }

    private void Tag(int field, int wireType) => RawVarint((ulong)((field << 3) | wireType));

    private void RawVarint(ulong v)
    {
        while (v >= 0x80)
        {
            buffer.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        buffer.WriteByte((byte)v);
    }
}
