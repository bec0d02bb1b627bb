using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace Finetune.Data.Parquet;

/// <summary>
/// Writes a <see cref="Dataset"/> as Parquet the way HF `Dataset.to_parquet` lays it out: one row group, one
/// Snappy-compressed v1 data page per column with PLAIN values and RLE levels, nullable columns, lists of int as
/// the standard 3-level LIST, and the `huggingface` metadata key carrying the features (ClassLabel names), so
/// `load_dataset("parquet", ...)` in Python and <see cref="LoadDataset"/> here read the same features back.
/// </summary>
internal static class ParquetWriter
{
    private const int Snappy = 1;

    public static void Write(Dataset ds, Stream output)
    {
        var file = new MemoryStream();
        file.Write("PAR1"u8);
        var chunks = new List<(string Name, Column Col, FeatureType Type, long Offset, long Compressed, long Uncompressed, int NumValues)>();
        foreach (var (name, type) in ds.Features)
        {
            var col = ds.GetColumn(name);
            var (page, numValues) = Page(col);
            byte[] compressed = IronSnappy.Snappy.Encode(page);
            byte[] header = new ThriftWriter()
                .I32(1, 0).I32(2, page.Length).I32(3, compressed.Length)
                .Struct(5, h => h.I32(1, numValues).I32(2, 0).I32(3, 3).I32(4, 3))
                .ToArray();
            long offset = file.Position;
            file.Write(header);
            file.Write(compressed);
            chunks.Add((name, col, type, offset, header.Length + compressed.Length, header.Length + page.Length, numValues));
        }
        byte[] footer = Footer(ds, chunks.Select(c => (c.Name, c.Col, c.Type, c.Offset, c.Compressed, c.Uncompressed, c.NumValues)).ToList());
        file.Write(footer);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, footer.Length);
        file.Write(len);
        file.Write("PAR1"u8);
        file.Position = 0;
        file.CopyTo(output);
    }

    private static int Physical(DType t) => t switch
    {
        DType.Bool => 0,
        DType.Int32 or DType.Int32List => 1,
        DType.Int64 => 2,
        DType.Float32 => 4,
        DType.Float64 => 5,
        _ => 6,
    };

    private static byte[] Footer(Dataset ds, List<(string Name, Column Col, FeatureType Type, long Offset, long Compressed, long Uncompressed, int NumValues)> chunks)
    {
        var schema = new List<Action<ThriftWriter>> { t => t.Bin(4, "schema").I32(5, chunks.Count) };
        foreach (var c in chunks)
        {
            if (c.Col.DType == DType.Int32List)
            {
                schema.Add(t => t.I32(3, 1).Bin(4, c.Name).I32(5, 1).I32(6, 3).Struct(10, l => l.Struct(3, _ => { })));
                schema.Add(t => t.I32(3, 2).Bin(4, "list").I32(5, 1));
                schema.Add(t => t.I32(1, 1).I32(3, 1).Bin(4, "element"));
            }
            else if (c.Col.DType == DType.String)
                schema.Add(t => t.I32(1, 6).I32(3, 1).Bin(4, c.Name).I32(6, 0).Struct(10, l => l.Struct(1, _ => { })));
            else schema.Add(t => t.I32(1, Physical(c.Col.DType)).I32(3, 1).Bin(4, c.Name));
        }
        string hf = new JsonObject { ["info"] = new JsonObject { ["features"] = HfFeatures(ds.Features) } }.ToJsonString();
        return new ThriftWriter()
            .I32(1, 1)
            .Structs(2, schema, (t, build) => build(t))
            .I64(3, ds.NumRows)
            .Structs(4, new[] { 0 }, (rg, _) => rg
                .Structs(1, chunks, (cc, c) => cc.I64(2, c.Offset).Struct(3, m => m
                    .I32(1, Physical(c.Col.DType)).I32s(2, [0, 3])
                    .Strings(3, c.Col.DType == DType.Int32List ? [c.Name, "list", "element"] : [c.Name])
                    .I32(4, Snappy).I64(5, c.NumValues).I64(6, c.Uncompressed).I64(7, c.Compressed).I64(9, c.Offset)))
                .I64(2, chunks.Sum(c => c.Uncompressed)).I64(3, ds.NumRows))
            .Structs(5, new[] { ("huggingface", hf) }, (kv, p) => kv.Bin(1, p.Item1).Bin(2, p.Item2))
            .Bin(6, "finetune (C#)")
            .ToArray();
    }

    /// <summary>HF's serialized features: {"text": {"dtype": "string", "_type": "Value"}, "label": {"names": [...], "_type": "ClassLabel"}}.</summary>
    internal static JsonObject HfFeatures(Features features) => Arrow.HfFeatureJson.ToJson(features);

    /// <summary>The uncompressed page: repetition levels (lists only), definition levels, then PLAIN values.</summary>
    private static (byte[] Page, int NumValues) Page(Column col)
    {
        var page = new MemoryStream();
        int n = col.Length;
        if (col is Column<int[]?> lists)
        {
            var rep = new List<int>();
            var def = new List<int>();
            var values = new List<int>();
            for (int i = 0; i < n; i++)
            {
                var l = lists.Values[i];
                if (l == null) { rep.Add(0); def.Add(0); continue; }
                if (l.Length == 0) { rep.Add(0); def.Add(1); continue; }
                for (int k = 0; k < l.Length; k++)
                {
                    rep.Add(k == 0 ? 0 : 1);
                    def.Add(3);
                    values.Add(l[k]);
                }
            }
            WriteLevels(page, rep, 1);
            WriteLevels(page, def, 3);
            foreach (int v in values) page.Write(BitConverter.GetBytes(v));
            return (page.ToArray(), rep.Count);
        }
        var defs = new List<int>(n);
        for (int i = 0; i < n; i++) defs.Add(col.IsNull(i) ? 0 : 1);
        WriteLevels(page, defs, 1);
        switch (col)
        {
            case Column<bool> c:
                {
                    var present = Enumerable.Range(0, n).Where(i => !c.IsNull(i)).Select(i => c.Values[i]).ToArray();
                    var bits = new byte[(present.Length + 7) / 8];
                    for (int i = 0; i < present.Length; i++) if (present[i]) bits[i >> 3] |= (byte)(1 << (i & 7));
                    page.Write(bits);
                    break;
                }
            case Column<string?> c:
                for (int i = 0; i < n; i++)
                {
                    if (c.Values[i] is not string s) continue;
                    var b = Encoding.UTF8.GetBytes(s);
                    page.Write(BitConverter.GetBytes(b.Length));
                    page.Write(b);
                }
                break;
            case Column<int> c: for (int i = 0; i < n; i++) if (!c.IsNull(i)) page.Write(BitConverter.GetBytes(c.Values[i])); break;
            case Column<long> c: for (int i = 0; i < n; i++) if (!c.IsNull(i)) page.Write(BitConverter.GetBytes(c.Values[i])); break;
            case Column<float> c: for (int i = 0; i < n; i++) if (!c.IsNull(i)) page.Write(BitConverter.GetBytes(c.Values[i])); break;
            case Column<double> c: for (int i = 0; i < n; i++) if (!c.IsNull(i)) page.Write(BitConverter.GetBytes(c.Values[i])); break;
            default: throw new FinetuneException(ErrorKind.Unsupported, $"Column of type {col.DType} cannot be written to Parquet.");
        }
        return (page.ToArray(), n);
    }

    /// <summary>Levels as a 4-byte length and RLE runs (the hybrid encoding's run form only).</summary>
    private static void WriteLevels(MemoryStream page, List<int> levels, int max)
    {
        var rle = new MemoryStream();
        int width = 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)max);
        int byteWidth = (width + 7) / 8;
        for (int i = 0; i < levels.Count;)
        {
            int j = i;
            while (j < levels.Count && levels[j] == levels[i]) j++;
            ulong header = (ulong)(j - i) << 1;
            while (header >= 0x80) { rle.WriteByte((byte)(header | 0x80)); header >>= 7; }
            rle.WriteByte((byte)header);
            for (int b = 0; b < byteWidth; b++) rle.WriteByte((byte)(levels[i] >> (8 * b)));
            i = j;
        }
        page.Write(BitConverter.GetBytes((int)rle.Length));
        rle.WriteTo(page);
    }
}
