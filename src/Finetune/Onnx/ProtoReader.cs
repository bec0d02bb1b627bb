using System.Buffers.Binary;
using System.Text;

namespace Finetune.Onnx;

/// <summary>A malformed protobuf message; the ONNX loader turns it into one FinetuneException naming the file.</summary>
internal sealed class ProtoFormatException(string message) : Exception(message);

/// <summary>
/// A protobuf wire-format reader over one message's bytes. Every length is checked against the bytes that remain
/// before anything is read or allocated, so a corrupt length fails at once instead of allocating by its say-so.
/// Positions are absolute offsets into the whole buffer, so a tensor's raw bytes can be referenced, not copied.
/// </summary>
internal ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _end;
    private int _pos;

    public ProtoReader(ReadOnlySpan<byte> buffer, int start, int end)
    {
        _buffer = buffer;
        _pos = start;
        _end = end;
    }

    public readonly bool AtEnd => _pos >= _end;

    public readonly int Position => _pos;

    public readonly int Remaining => _end - _pos;

    /// <summary>The next field's number and wire type.</summary>
    public (int Field, int WireType) ReadTag()
    {
        ulong tag = ReadVarint();
        int field = (int)(tag >> 3);
        if (field <= 0 || tag >> 3 > int.MaxValue) throw new ProtoFormatException($"invalid field number {tag >> 3} at byte {_pos}");
        return (field, (int)(tag & 7));
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (_pos >= _end) throw new ProtoFormatException($"a varint runs past the end of its message at byte {_pos}");
            byte b = _buffer[_pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ProtoFormatException($"a varint longer than 10 bytes ends at byte {_pos}");
    }

    public long ReadInt64() => (long)ReadVarint();

    public uint ReadFixed32()
    {
        Need(4);
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    public ulong ReadFixed64()
    {
        Need(8);
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_buffer.Slice(_pos, 8));
        _pos += 8;
        return v;
    }

    /// <summary>A length-delimited field's [start, end) in the buffer, its length checked against what remains.</summary>
    public (int Start, int End) ReadLengthDelimited()
    {
        ulong length = ReadVarint();
        if (length > (ulong)Remaining)
            throw new ProtoFormatException($"a field of {length} bytes at byte {_pos} runs past the end of its message ({Remaining} bytes left)");
        int start = _pos;
        _pos += (int)length;
        return (start, _pos);
    }

    public ProtoReader ReadMessage()
    {
        var (start, end) = ReadLengthDelimited();
        return new ProtoReader(_buffer, start, end);
    }

    public string ReadString()
    {
        var (start, end) = ReadLengthDelimited();
        try
        {
            return new UTF8Encoding(false, true).GetString(_buffer[start..end]);
        }
        catch (DecoderFallbackException)
        {
            throw new ProtoFormatException($"a string at byte {start} is not valid UTF-8");
        }
    }

    /// <summary>Skips a field of <paramref name="wireType"/> (groups, deprecated since proto2, are refused).</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: Need(8); _pos += 8; break;
            case 2: ReadLengthDelimited(); break;
            case 5: Need(4); _pos += 4; break;
            default: throw new ProtoFormatException($"unsupported wire type {wireType} at byte {_pos}");
        }
    }

    /// <summary>Appends a repeated varint field, packed (wire type 2) or not (0).</summary>
    public void ReadVarints(int wireType, List<long> into)
    {
        if (wireType == 0)
        {
            into.Add(ReadInt64());
            return;
        }
        Expect(wireType, 2);
        var inner = ReadMessage();
        while (!inner.AtEnd) into.Add(inner.ReadInt64());
    }

    /// <summary>Appends a repeated fixed32 field (float), packed or not.</summary>
    public void ReadFixed32s(int wireType, List<uint> into)
    {
        if (wireType == 5)
        {
            into.Add(ReadFixed32());
            return;
        }
        Expect(wireType, 2);
        var inner = ReadMessage();
        if (inner.Remaining % 4 != 0) throw new ProtoFormatException($"a packed 4-byte field at byte {inner.Position} is {inner.Remaining} bytes long");
        while (!inner.AtEnd) into.Add(inner.ReadFixed32());
    }

    /// <summary>Appends a repeated fixed64 field (double), packed or not.</summary>
    public void ReadFixed64s(int wireType, List<ulong> into)
    {
        if (wireType == 1)
        {
            into.Add(ReadFixed64());
            return;
        }
        Expect(wireType, 2);
        var inner = ReadMessage();
        if (inner.Remaining % 8 != 0) throw new ProtoFormatException($"a packed 8-byte field at byte {inner.Position} is {inner.Remaining} bytes long");
        while (!inner.AtEnd) into.Add(inner.ReadFixed64());
    }

    public readonly void Expect(int wireType, int expected)
    {
        if (wireType != expected) throw new ProtoFormatException($"wire type {wireType} where {expected} was expected at byte {_pos}");
    }

    private readonly void Need(int n)
    {
        if (Remaining < n) throw new ProtoFormatException($"a {n}-byte field runs past the end of its message at byte {_pos}");
    }
}
