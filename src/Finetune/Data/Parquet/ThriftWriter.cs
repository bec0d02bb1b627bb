using System.Text;

namespace Finetune.Data.Parquet;

/// <summary>Writes one Thrift struct in the compact protocol (the inverse of <see cref="ThriftCompact"/>).</summary>
internal sealed class ThriftWriter
{
    private readonly MemoryStream _s = new();
    private short _last;

    private void Field(short id, int type)
    {
        int delta = id - _last;
        if (delta is > 0 and <= 15) _s.WriteByte((byte)((delta << 4) | type));
        else
        {
            _s.WriteByte((byte)type);
            Varint(ZigZag(id));
        }
        _last = id;
    }

    private void Varint(ulong v)
    {
        while (v >= 0x80)
        {
            _s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _s.WriteByte((byte)v);
    }

    private static ulong ZigZag(long v) => (ulong)((v << 1) ^ (v >> 63));

    public ThriftWriter I32(short id, int v) { Field(id, 5); Varint(ZigZag(v)); return this; }

    public ThriftWriter I64(short id, long v) { Field(id, 6); Varint(ZigZag(v)); return this; }

    public ThriftWriter Bin(short id, string v)
    {
        Field(id, 8);
        var b = Encoding.UTF8.GetBytes(v);
        Varint((ulong)b.Length);
        _s.Write(b);
        return this;
    }

    public ThriftWriter Struct(short id, Action<ThriftWriter> build)
    {
        Field(id, 12);
        var t = new ThriftWriter();
        build(t);
        _s.Write(t.ToArray());
        return this;
    }

    private void ListHeader(int size, int type)
    {
        if (size < 15) _s.WriteByte((byte)((size << 4) | type));
        else
        {
            _s.WriteByte((byte)(0xF0 | type));
            Varint((ulong)size);
        }
    }

    public ThriftWriter Structs<T>(short id, IReadOnlyList<T> items, Action<ThriftWriter, T> build)
    {
        Field(id, 9);
        ListHeader(items.Count, 12);
        foreach (var item in items)
        {
            var t = new ThriftWriter();
            build(t, item);
            _s.Write(t.ToArray());
        }
        return this;
    }

    public ThriftWriter I32s(short id, IReadOnlyList<int> values)
    {
        Field(id, 9);
        ListHeader(values.Count, 5);
        foreach (int v in values) Varint(ZigZag(v));
        return this;
    }

    public ThriftWriter Strings(short id, IReadOnlyList<string> values)
    {
        Field(id, 9);
        ListHeader(values.Count, 8);
        foreach (var v in values)
        {
            var b = Encoding.UTF8.GetBytes(v);
            Varint((ulong)b.Length);
            _s.Write(b);
        }
        return this;
    }

    /// <summary>The struct's bytes, with its stop field.</summary>
    public byte[] ToArray()
    {
        var copy = new byte[_s.Length + 1];
        _s.GetBuffer().AsSpan(0, (int)_s.Length).CopyTo(copy);
        return copy;
    }
}
