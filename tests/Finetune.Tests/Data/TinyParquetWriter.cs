using System.Text;

namespace Finetune.Tests.Data;

/// <summary>
/// A minimal Parquet writer for tests, written from the format specification: one row group, PLAIN values,
/// uncompressed v1 data pages, optional columns with RLE definition levels, key-value metadata. It lets tests
/// build files with the `huggingface` metadata the Hub's exports carry.
/// </summary>
internal static class TinyParquetWriter
{
    public sealed record Col(string Name, bool IsString, object?[] Values);

    public static byte[] Write(IReadOnlyList<Col> cols, IReadOnlyDictionary<string, string> metadata)
    {
        var file = new MemoryStream();
        file.Write("PAR1"u8);
        int rows = cols[0].Values.Length;
        var chunks = new List<(long Offset, long Size, Col Col)>();
        foreach (var c in cols)
        {
            var page = new MemoryStream();
            // Definition levels: one RLE run of length 1 per row (bit width 1).
            var levels = new MemoryStream();
            foreach (var v in c.Values) { levels.WriteByte(1 << 1); levels.WriteByte(v == null ? (byte)0 : (byte)1); }
            page.Write(BitConverter.GetBytes((int)levels.Length));
            levels.WriteTo(page);
            foreach (var v in c.Values)
            {
                if (v == null) continue;
                if (c.IsString) { var b = Encoding.UTF8.GetBytes((string)v); page.Write(BitConverter.GetBytes(b.Length)); page.Write(b); }
                else page.Write(BitConverter.GetBytes((long)v));
            }
            var header = new Thrift();
            header.I32(1, 0).I32(2, (int)page.Length).I32(3, (int)page.Length)
                .Struct(5, h => h.I32(1, rows).I32(2, 0).I32(3, 3).I32(4, 3));
            long offset = file.Position;
            file.Write(header.Bytes());
            page.WriteTo(file);
            chunks.Add((offset, file.Position - offset, c));
        }
        var meta = new Thrift();
        meta.I32(1, 1)
            .List(2, cols.Count + 1, i => i == 0
                ? new Thrift().Bin(4, "schema").I32(5, cols.Count)
                : new Thrift().I32(1, cols[i - 1].IsString ? 6 : 2).I32(3, 1).Bin(4, cols[i - 1].Name).Apply(t => { if (cols[i - 1].IsString) t.I32(6, 0); }))
            .I64(3, rows)
            .List(4, 1, _ => new Thrift()
                .List(1, chunks.Count, i => new Thrift().I64(2, chunks[i].Offset).Struct(3, m => m
                    .I32(1, chunks[i].Col.IsString ? 6 : 2).IntList(2, [0, 3]).BinList(3, [chunks[i].Col.Name]).I32(4, 0)
                    .I64(5, rows).I64(6, chunks[i].Size).I64(7, chunks[i].Size).I64(9, chunks[i].Offset)))
                .I64(2, chunks.Sum(c => c.Size)).I64(3, rows))
            .List(5, metadata.Count, i => new Thrift().Bin(1, metadata.Keys.ElementAt(i)).Bin(2, metadata.Values.ElementAt(i)));
        var footer = meta.Bytes();
        file.Write(footer);
        file.Write(BitConverter.GetBytes(footer.Length));
        file.Write("PAR1"u8);
        return file.ToArray();
    }

    /// <summary>Thrift compact protocol output for one struct.</summary>
    private sealed class Thrift
    {
        private readonly MemoryStream _s = new();
        private short _last;

        public Thrift Apply(Action<Thrift> a) { a(this); return this; }

        private void Field(short id, int type)
        {
            int delta = id - _last;
            if (delta is > 0 and <= 15) _s.WriteByte((byte)((delta << 4) | type));
            else { _s.WriteByte((byte)type); Varint(ZigZag(id)); }
            _last = id;
        }

        private void Varint(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        private static ulong ZigZag(long v) => (ulong)((v << 1) ^ (v >> 63));

        public Thrift I32(short id, int v) { Field(id, 5); Varint(ZigZag(v)); return this; }

        public Thrift I64(short id, long v) { Field(id, 6); Varint(ZigZag(v)); return this; }

        public Thrift Bin(short id, string v) { Field(id, 8); var b = Encoding.UTF8.GetBytes(v); Varint((ulong)b.Length); _s.Write(b); return this; }

        public Thrift Struct(short id, Action<Thrift> build) { Field(id, 12); var t = new Thrift(); build(t); _s.Write(t.Bytes()); return this; }

        private void ListHeader(int size, int type)
        {
            if (size < 15) _s.WriteByte((byte)((size << 4) | type));
            else { _s.WriteByte((byte)(0xF0 | type)); Varint((ulong)size); }
        }

        public Thrift List(short id, int size, Func<int, Thrift> element)
        {
            Field(id, 9);
            ListHeader(size, 12);
            for (int i = 0; i < size; i++) _s.Write(element(i).Bytes());
            return this;
        }

        public Thrift IntList(short id, int[] values)
        {
            Field(id, 9);
            ListHeader(values.Length, 5);
            foreach (int v in values) Varint(ZigZag(v));
            return this;
        }

        public Thrift BinList(short id, string[] values)
        {
            Field(id, 9);
            ListHeader(values.Length, 8);
            foreach (var v in values) { var b = Encoding.UTF8.GetBytes(v); Varint((ulong)b.Length); _s.Write(b); }
            return this;
        }

        public byte[] Bytes()
        {
            var copy = new MemoryStream();
            _s.WriteTo(copy);
            copy.WriteByte(0);
            return copy.ToArray();
        }
    }
}
