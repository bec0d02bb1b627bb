using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Finetune.Data.Parquet;

/// <summary>A column chunk's decoded content: non-null values plus definition and repetition levels.</summary>
internal sealed class ColumnValues
{
    public required Array Values { get; init; }   // bool[], int[], long[], float[], double[] or byte[][]
    public required int[] Def { get; init; }
    public required int[] Rep { get; init; }
}

/// <summary>
/// Reads a Parquet file without a library: the Thrift footer, then each column chunk's pages (data page v1/v2,
/// dictionary pages) with their compression and encodings. Every offset and length is checked.
/// </summary>
internal sealed class ParquetReader
{
    private const int MaxValuesPerPage = 1 << 27;
    private readonly byte[] _file;

    private ParquetReader(byte[] file, TStruct meta, SchemaNode schema)
    {
        _file = file;
        Meta = meta;
        Schema = schema;
    }

    public TStruct Meta { get; }

    public SchemaNode Schema { get; }

    /// <summary>Rows as the row groups count them (some writers leave the footer's total at 0, as Arrow tolerates).</summary>
    public long NumRows
    {
        get
        {
            var groups = Meta.List(4);
            if (groups.Count == 0) return Meta.Long(3) ?? 0;
            long n = 0;
            foreach (var g in groups) n += (g as TStruct)?.Long(3) ?? 0;
            return n;
        }
    }

    public static ParquetReader Open(byte[] file)
    {
        if (file.Length < 12) throw new ParquetFormatException($"the file is {file.Length} bytes, too short for Parquet");
        string head = Encoding.ASCII.GetString(file, 0, 4), tail = Encoding.ASCII.GetString(file, file.Length - 4, 4);
        if (tail == "PARE") throw new UnsupportedParquetException("the file is encrypted (Parquet modular encryption), which is not supported");
        if (head != "PAR1" || tail != "PAR1") throw new ParquetFormatException("it does not start and end with the PAR1 magic");
        int footerLen = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(file.Length - 8, 4));
        if (footerLen <= 0 || footerLen > file.Length - 12) throw new ParquetFormatException($"the footer length {footerLen} does not fit in the file");
        var tc = new ThriftCompact(file.AsSpan(file.Length - 8 - footerLen, footerLen));
        var meta = tc.ReadStruct();
        var schema = SchemaNode.Build(meta.List(2));
        return new ParquetReader(file, meta, schema);
    }

    public Dictionary<string, string> KeyValueMetadata()
    {
        var d = new Dictionary<string, string>();
        foreach (var o in Meta.List(5))
        {
            if (o is TStruct kv && kv.String(1) is string k) d[k] = kv.String(2) ?? "";
        }
        return d;
    }

    /// <summary>Decodes the leaf column at <paramref name="leafIndex"/> across all row groups.</summary>
    public ColumnValues ReadColumn(int leafIndex, SchemaNode leaf, int maxDef, int maxRep)
    {
        var values = new List<Array>();
        var def = new List<int>();
        var rep = new List<int>();
        foreach (var rgObj in Meta.List(4))
        {
            if (rgObj is not TStruct rg) throw new ParquetFormatException("a row group entry is not a struct");
            var chunks = rg.List(1);
            if (leafIndex >= chunks.Count || chunks[leafIndex] is not TStruct chunk) throw new ParquetFormatException($"a row group lacks column chunk {leafIndex}");
            if (chunk.Has(8) || chunk.Has(9)) throw new UnsupportedParquetException("a column is encrypted, which is not supported");
            if (chunk.String(1) is string external && external.Length > 0) throw new UnsupportedParquetException($"column chunks in another file ('{external}') are not supported");
            var cm = chunk.Struct(3) ?? throw new ParquetFormatException("a column chunk has no metadata");
            ReadChunk(cm, leaf, maxDef, maxRep, values, def, rep);
        }
        return new ColumnValues { Values = Concat(leaf.Type!.Value, values), Def = def.ToArray(), Rep = rep.ToArray() };
    }

    private void ReadChunk(TStruct cm, SchemaNode leaf, int maxDef, int maxRep, List<Array> values, List<int> def, List<int> rep)
    {
        int codec = (int)(cm.Long(4) ?? 0);
        long numValues = cm.Long(5) ?? 0;
        long total = cm.Long(7) ?? 0;
        long dataOffset = cm.Long(9) ?? 0;
        long dictOffset = cm.Long(11) ?? 0;
        if (numValues == 0) return; // an empty chunk (some writers leave its offsets at 0)
        long start = dictOffset > 0 && dictOffset < dataOffset ? dictOffset : dataOffset;
        if (numValues < 0 || total < 0 || start < 4 || start > _file.Length - 8 || total > _file.Length - 8 - start)
            throw new ParquetFormatException($"column '{leaf.Name}' has a chunk outside the file (offset {start}, {total} bytes)");
        long end = start + total;
        long pos = start;
        long read = 0;
        Array? dictionary = null;
        while (read < numValues)
        {
            if (pos >= end) throw new ParquetFormatException($"column '{leaf.Name}' ends after {read} of {numValues} values");
            var tc = new ThriftCompact(_file.AsSpan((int)pos, (int)(end - pos)));
            var header = tc.ReadStruct();
            pos += tc.Position;
            int pageType = header.Int(1, "page type");
            int uncompressed = header.Int(2, "uncompressed page size");
            int compressed = header.Int(3, "compressed page size");
            if (compressed < 0 || uncompressed < 0 || compressed > end - pos)
                throw new ParquetFormatException($"column '{leaf.Name}' has a page of {compressed} bytes where {end - pos} remain");
            var page = _file.AsSpan((int)pos, compressed);
            pos += compressed;
            switch (pageType)
            {
                case 2:
                    {
                        var dh = header.Struct(7) ?? throw new ParquetFormatException("a dictionary page has no header");
                        int n = dh.Int(1, "dictionary size");
                        if (n < 0 || n > MaxValuesPerPage) throw new ParquetFormatException($"column '{leaf.Name}' has a dictionary page with {n} values");
                        var bytes = Decompress(codec, page, uncompressed);
                        var r = new ByteReader(bytes);
                        dictionary = Plain(ref r, leaf, n);
                        break;
                    }
                case 0:
                    {
                        var dh = header.Struct(5) ?? throw new ParquetFormatException("a data page has no header");
                        int n = dh.Int(1, "value count");
                        CheckCount(n, numValues - read, leaf);
                        var bytes = Decompress(codec, page, uncompressed);
                        var r = new ByteReader(bytes);
                        int[] repL = maxRep > 0 ? LevelsV1(ref r, maxRep, n, (int)(dh.Long(4) ?? 3)) : new int[n];
                        int[] defL = maxDef > 0 ? LevelsV1(ref r, maxDef, n, (int)(dh.Long(3) ?? 3)) : Filled(n, 0);
                        int present = Count(defL, maxDef);
                        values.Add(DecodeValues(ref r, leaf, dh.Int(2, "encoding"), present, dictionary));
                        def.AddRange(defL);
                        rep.AddRange(repL);
                        read += n;
                        break;
                    }
                case 3:
                    {
                        var h = header.Struct(8) ?? throw new ParquetFormatException("a v2 data page has no header");
                        int n = h.Int(1, "value count");
                        CheckCount(n, numValues - read, leaf);
                        int repLen = h.Int(6, "repetition levels length"), defLen = h.Int(5, "definition levels length");
                        if (repLen < 0 || defLen < 0 || (long)repLen + defLen > page.Length)
                            throw new ParquetFormatException($"column '{leaf.Name}' has level lengths {repLen}+{defLen} larger than its page");
                        int[] repL = new int[n], defL = maxDef > 0 ? new int[n] : Filled(n, 0);
                        if (maxRep > 0) Encodings.RleHybrid(page[..repLen], BitWidth(maxRep), repL);
                        if (maxDef > 0) Encodings.RleHybrid(page.Slice(repLen, defLen), BitWidth(maxDef), defL);
                        var rest = page[(repLen + defLen)..];
                        bool isCompressed = h.Bool(7) ?? true;
                        byte[] data = isCompressed && codec != 0 && rest.Length > 0 ? Decompress(codec, rest, uncompressed - repLen - defLen) : rest.ToArray();
                        var r = new ByteReader(data);
                        int present = Count(defL, maxDef);
                        values.Add(DecodeValues(ref r, leaf, h.Int(4, "encoding"), present, dictionary));
                        def.AddRange(defL);
                        rep.AddRange(repL);
                        read += n;
                        break;
                    }
                case 1:
                    break; // index pages carry nothing we need
                default:
                    throw new ParquetFormatException($"column '{leaf.Name}' has a page of unknown type {pageType}");
            }
        }
    }

    private static void CheckCount(int n, long remaining, SchemaNode leaf)
    {
        if (n < 0 || n > MaxValuesPerPage || n > remaining)
            throw new ParquetFormatException($"column '{leaf.Name}' has a page claiming {n} values where {remaining} remain");
    }

    private static int[] Filled(int n, int v)
    {
        var a = new int[n];
        if (v != 0) Array.Fill(a, v);
        return a;
    }

    private static int Count(int[] defL, int maxDef)
    {
        int c = 0;
        foreach (int d in defL)
        {
            if (d > maxDef || d < 0) throw new ParquetFormatException($"a definition level {d} exceeds the maximum {maxDef}");
            if (d == maxDef) c++;
        }
        return c;
    }

    private static int BitWidth(int max) => max == 0 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)max);

    private static int[] LevelsV1(ref ByteReader r, int max, int n, int encoding)
    {
        var levels = new int[n];
        if (encoding == 4)
        {
            // BIT_PACKED levels (deprecated): MSB-first packing.
            int w = BitWidth(max);
            var bytes = r.Take(((long)n * w + 7) / 8);
            for (int i = 0; i < n; i++)
            {
                int v = 0;
                for (int b = 0; b < w; b++)
                {
                    long bit = (long)i * w + b;
                    v = (v << 1) | ((bytes[(int)(bit >> 3)] >> (7 - (int)(bit & 7))) & 1);
                }
                levels[i] = v;
            }
            return levels;
        }
        if (encoding != 3) throw new UnsupportedParquetException($"level encoding {encoding} is not supported");
        int len = r.Int32();
        Encodings.RleHybrid(r.Take(len), BitWidth(max), levels);
        return levels;
    }

    private static byte[] Decompress(int codec, ReadOnlySpan<byte> data, int uncompressed)
    {
        if (uncompressed < 0 || uncompressed > 1 << 30) throw new ParquetFormatException($"a page claims {uncompressed} uncompressed bytes");
        try
        {
            switch (codec)
            {
                case 0: return data.ToArray();
                case 1:
                    {
                        if (data.Length == 0) return [];
                        var outBytes = IronSnappy.Snappy.Decode(data);
                        if (outBytes.Length != uncompressed) throw new ParquetFormatException($"a Snappy page decompressed to {outBytes.Length} bytes, not {uncompressed}");
                        return outBytes;
                    }
                case 2:
                    {
                        using var z = new GZipStream(new MemoryStream(data.ToArray()), CompressionMode.Decompress);
                        var buffer = new byte[uncompressed];
                        int got = 0;
                        while (got < uncompressed)
                        {
                            int k = z.Read(buffer, got, uncompressed - got);
                            if (k == 0) break;
                            got += k;
                        }
                        if (got != uncompressed) throw new ParquetFormatException($"a GZIP page decompressed to {got} bytes, not {uncompressed}");
                        return buffer;
                    }
                case 4:
                    {
                        var buffer = new byte[uncompressed];
                        if (!BrotliDecoder.TryDecompress(data, buffer, out int written) || written != uncompressed)
                            throw new ParquetFormatException("a Brotli page is corrupt");
                        return buffer;
                    }
                case 7: return Lz4.DecompressRaw(data, uncompressed);
                case 5: return Lz4.DecompressHadoop(data, uncompressed);
                case 6: return Zstd.Decompress(data, uncompressed);
                case 3: throw new UnsupportedParquetException("LZO compression is not supported");
                default: throw new UnsupportedParquetException($"compression codec {codec} is not supported");
            }
        }
        catch (InvalidDataException e) { throw new ParquetFormatException($"a compressed page is corrupt ({e.Message})"); }
        catch (Exception e) when (e is not ParquetFormatException and not UnsupportedParquetException and not OutOfMemoryException)
        {
            throw new ParquetFormatException($"a compressed page is corrupt ({e.Message})");
        }
    }

    private static Array DecodeValues(ref ByteReader r, SchemaNode leaf, int encoding, int count, Array? dictionary)
    {
        switch (encoding)
        {
            case 0: return Plain(ref r, leaf, count);
            case 2:
            case 8:
                {
                    if (dictionary == null) throw new ParquetFormatException($"column '{leaf.Name}' uses a dictionary but has no dictionary page");
                    var idx = new int[count];
                    if (count > 0)
                    {
                        int width = r.Byte();
                        if (width > 32) throw new ParquetFormatException($"dictionary index bit width {width} is invalid");
                        // Width 0 is valid: every index is 0 (Impala and parquet-mr write it for single-valued pages).
                        Encodings.RleHybrid(r.Take(r.Remaining), width, idx);
                    }
                    foreach (int i in idx)
                    {
                        if ((uint)i >= (uint)dictionary.Length) throw new ParquetFormatException($"column '{leaf.Name}' refers to dictionary entry {i} of {dictionary.Length}");
                    }
                    return Gather(dictionary, idx);
                }
            case 3:
                {
                    if (leaf.Type != PhysicalType.Boolean) throw new UnsupportedParquetException($"RLE encoding of {leaf.Type} values is not supported");
                    int len = r.Int32();
                    var bits = new int[count];
                    Encodings.RleHybrid(r.Take(len), 1, bits);
                    return bits.Select(b => b != 0).ToArray();
                }
            case 5:
                {
                    var v = Encodings.DeltaBinaryPacked(ref r);
                    if (v.Length < count) throw new ParquetFormatException($"column '{leaf.Name}' has {v.Length} delta-packed values where {count} are needed");
                    return leaf.Type switch
                    {
                        PhysicalType.Int32 => v.Take(count).Select(x => unchecked((int)x)).ToArray(),
                        PhysicalType.Int64 => v[..count],
                        _ => throw new ParquetFormatException($"DELTA_BINARY_PACKED cannot encode {leaf.Type} values"),
                    };
                }
            case 6:
            case 7:
                {
                    if (leaf.Type is not (PhysicalType.ByteArray or PhysicalType.FixedLenByteArray)) throw new ParquetFormatException($"{(encoding == 6 ? "DELTA_LENGTH_BYTE_ARRAY" : "DELTA_BYTE_ARRAY")} cannot encode {leaf.Type} values");
                    var v = encoding == 6 ? Encodings.DeltaLengthByteArray(ref r) : Encodings.DeltaByteArray(ref r);
                    if (v.Length < count) throw new ParquetFormatException($"column '{leaf.Name}' has {v.Length} values where {count} are needed");
                    return v[..count];
                }
            case 9:
                {
                    int width = leaf.Type switch
                    {
                        PhysicalType.Float or PhysicalType.Int32 => 4,
                        PhysicalType.Double or PhysicalType.Int64 => 8,
                        PhysicalType.FixedLenByteArray => leaf.TypeLength,
                        _ => throw new ParquetFormatException($"BYTE_STREAM_SPLIT cannot encode {leaf.Type} values"),
                    };
                    if (width <= 0) throw new ParquetFormatException("BYTE_STREAM_SPLIT needs a positive value width");
                    var bytes = Encodings.ByteStreamSplit(r.Take(r.Remaining), width, count);
                    var br = new ByteReader(bytes);
                    return Plain(ref br, leaf, count);
                }
            default:
                throw new UnsupportedParquetException($"encoding {encoding} is not supported");
        }
    }

    private static Array Gather(Array dict, int[] idx) => dict switch
    {
        bool[] d => idx.Select(i => d[i]).ToArray(),
        int[] d => idx.Select(i => d[i]).ToArray(),
        long[] d => idx.Select(i => d[i]).ToArray(),
        float[] d => idx.Select(i => d[i]).ToArray(),
        double[] d => idx.Select(i => d[i]).ToArray(),
        byte[][] d => idx.Select(i => d[i]).ToArray(),
        _ => throw new InvalidOperationException(),
    };

    private static Array Plain(ref ByteReader r, SchemaNode leaf, int n)
    {
        switch (leaf.Type)
        {
            case PhysicalType.Boolean:
                {
                    var bytes = r.Take((n + 7L) / 8);
                    var v = new bool[n];
                    for (int i = 0; i < n; i++) v[i] = ((bytes[i >> 3] >> (i & 7)) & 1) != 0;
                    return v;
                }
            case PhysicalType.Int32:
                {
                    var s = r.Take(4L * n);
                    var v = new int[n];
                    for (int i = 0; i < n; i++) v[i] = BinaryPrimitives.ReadInt32LittleEndian(s.Slice(4 * i));
                    return v;
                }
            case PhysicalType.Int64:
                {
                    var s = r.Take(8L * n);
                    var v = new long[n];
                    for (int i = 0; i < n; i++) v[i] = BinaryPrimitives.ReadInt64LittleEndian(s.Slice(8 * i));
                    return v;
                }
            case PhysicalType.Float:
                {
                    var s = r.Take(4L * n);
                    var v = new float[n];
                    for (int i = 0; i < n; i++) v[i] = BinaryPrimitives.ReadSingleLittleEndian(s.Slice(4 * i));
                    return v;
                }
            case PhysicalType.Double:
                {
                    var s = r.Take(8L * n);
                    var v = new double[n];
                    for (int i = 0; i < n; i++) v[i] = BinaryPrimitives.ReadDoubleLittleEndian(s.Slice(8 * i));
                    return v;
                }
            case PhysicalType.ByteArray:
                {
                    var v = new byte[n][];
                    for (int i = 0; i < n; i++)
                    {
                        int len = r.Int32();
                        v[i] = r.Take(len).ToArray();
                    }
                    return v;
                }
            case PhysicalType.FixedLenByteArray:
            case PhysicalType.Int96:
                {
                    int w = leaf.Type == PhysicalType.Int96 ? 12 : leaf.TypeLength;
                    if (w <= 0) throw new ParquetFormatException($"column '{leaf.Name}' has fixed length {w}");
                    var s = r.Take((long)w * n);
                    var v = new byte[n][];
                    for (int i = 0; i < n; i++) v[i] = s.Slice(i * w, w).ToArray();
                    return v;
                }
            default:
                throw new ParquetFormatException($"column '{leaf.Name}' has no physical type");
        }
    }

    private static Array Concat(PhysicalType t, List<Array> parts)
    {
        Array Join<T>() => parts.SelectMany(p => (T[])p).ToArray();
        return t switch
        {
            PhysicalType.Boolean => Join<bool>(),
            PhysicalType.Int32 => Join<int>(),
            PhysicalType.Int64 => Join<long>(),
            PhysicalType.Float => Join<float>(),
            PhysicalType.Double => Join<double>(),
            _ => Join<byte[]>(),
        };
    }
}

/// <summary>A valid file that uses a feature this reader does not implement (encryption, ZSTD, ...).</summary>
internal sealed class UnsupportedParquetException(string message) : Exception(message);
