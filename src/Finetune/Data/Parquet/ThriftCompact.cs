namespace Finetune.Data.Parquet;

/// <summary>A decoded Thrift struct: field id → value (long, bool, double, byte[], List&lt;object&gt;, TStruct).</summary>
internal sealed class TStruct
{
    public readonly Dictionary<short, object> Fields = new();

    public bool Has(short id) => Fields.ContainsKey(id);

    public long? Long(short id) => Fields.TryGetValue(id, out var v) ? v switch { long l => l, bool b => b ? 1 : 0, _ => null } : null;

    public int Int(short id, string what) => Long(id) is long l && l >= int.MinValue && l <= int.MaxValue ? (int)l
        : throw new ParquetFormatException($"{what} is missing or out of range");

    public bool? Bool(short id) => Fields.TryGetValue(id, out var v) && v is bool b ? b : null;

    public string? String(short id) => Fields.TryGetValue(id, out var v) && v is byte[] b ? System.Text.Encoding.UTF8.GetString(b) : null;

    public TStruct? Struct(short id) => Fields.TryGetValue(id, out var v) ? v as TStruct : null;

    public List<object> List(short id) => Fields.TryGetValue(id, out var v) && v is List<object> l ? l : new List<object>();
}

/// <summary>A structural problem in a Parquet file; the loader turns it into a FinetuneException naming the file.</summary>
internal sealed class ParquetFormatException(string message) : Exception(message);

/// <summary>
/// Thrift's compact protocol, as Parquet's footer and page headers use it. Every length and count is checked
/// against the bytes that remain and nesting is bounded, so a corrupt file fails cleanly instead of hanging.
/// </summary>
internal ref struct ThriftCompact
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;
    private int _depth;

    public ThriftCompact(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
        _depth = 0;
    }

    public int Position => _pos;

    public TStruct ReadStruct()
    {
        if (++_depth > 64) throw new ParquetFormatException("Thrift structures are nested too deeply");
        var s = new TStruct();
        short last = 0;
        while (true)
        {
            byte header = ReadByte();
            int type = header & 0x0F;
            if (type == 0) break;
            int delta = header >> 4;
            short id = delta != 0 ? (short)(last + delta) : (short)ZigZag(ReadVarint());
            last = id;
            s.Fields[id] = type switch
            {
                1 => true,
                2 => false,
                _ => ReadValue(type),
            };
        }
        _depth--;
        return s;
    }

    private object ReadValue(int type)
    {
        switch (type)
        {
            case 1: return true;
            case 2: return false;
            case 3: return (long)(sbyte)ReadByte();
            case 4:
            case 5:
            case 6: return ZigZag(ReadVarint());
            case 7:
                {
                    Need(8);
                    double d = BitConverter.ToDouble(_data.Slice(_pos, 8));
                    _pos += 8;
                    return d;
                }
            case 8:
                {
                    int len = Length();
                    var b = _data.Slice(_pos, len).ToArray();
                    _pos += len;
                    return b;
                }
            case 9:
            case 10:
                {
                    byte h = ReadByte();
                    int size = h >> 4;
                    if (size == 15) size = Length(1);
                    int et = h & 0x0F;
                    if (size > _data.Length - _pos) throw new ParquetFormatException($"a Thrift list claims {size} elements but only {_data.Length - _pos} bytes remain");
                    var list = new List<object>(size);
                    for (int i = 0; i < size; i++) list.Add(et is 1 or 2 ? ReadByte() == 1 : ReadValue(et));
                    return list;
                }
            case 11:
                {
                    int size = Length(1);
                    var list = new List<object>();
                    if (size == 0) return list;
                    byte kv = ReadByte();
                    for (int i = 0; i < size; i++)
                    {
                        list.Add(ReadValue(kv >> 4));
                        list.Add(ReadValue(kv & 0x0F));
                    }
                    return list;
                }
            case 12: return ReadStruct();
            default: throw new ParquetFormatException($"unknown Thrift type {type} at byte {_pos}");
        }
    }

    private int Length(int minBytesPer = 1)
    {
        ulong v = ReadVarint();
        if (v * (ulong)minBytesPer > (ulong)(_data.Length - _pos))
            throw new ParquetFormatException($"a Thrift length of {v} runs past the end of the data");
        return (int)v;
    }

    private void Need(int n)
    {
        if (_pos + n > _data.Length) throw new ParquetFormatException("Thrift data ends in the middle of a value");
    }

    private byte ReadByte()
    {
        Need(1);
        return _data[_pos++];
    }

    private ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte b = ReadByte();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ParquetFormatException("a Thrift varint is too long");
    }

    private static long ZigZag(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);
}
