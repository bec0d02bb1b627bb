using System.Buffers.Binary;

namespace Finetune.Data.Parquet;

/// <summary>A bounds-checked cursor over a page's bytes.</summary>
internal ref struct ByteReader
{
    private readonly ReadOnlySpan<byte> _data;
    public int Pos;

    public ByteReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        Pos = 0;
    }

    public int Remaining => _data.Length - Pos;

    public ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > Remaining) throw new ParquetFormatException($"a page needs {n} more bytes but only {Remaining} remain");
        var s = _data.Slice(Pos, (int)n);
        Pos += (int)n;
        return s;
    }

    public byte Byte() => Take(1)[0];

    public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public ulong Varint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte b = Byte();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ParquetFormatException("a varint is too long");
    }

    public long ZigZag()
    {
        ulong v = Varint();
        return (long)(v >> 1) ^ -(long)(v & 1);
    }
}

/// <summary>Parquet's value and level encodings.</summary>
internal static class Encodings
{
    /// <summary>The RLE / bit-packed hybrid: fills <paramref name="output"/> with exactly its length of values.</summary>
    public static void RleHybrid(ReadOnlySpan<byte> data, int bitWidth, Span<int> output)
    {
        if (bitWidth < 0 || bitWidth > 32) throw new ParquetFormatException($"bit width {bitWidth} is invalid");
        var r = new ByteReader(data);
        int n = 0;
        int byteWidth = (bitWidth + 7) / 8;
        while (n < output.Length)
        {
            if (r.Remaining == 0) throw new ParquetFormatException($"RLE data ends after {n} of {output.Length} values");
            ulong header = r.Varint();
            if ((header & 1) == 0)
            {
                ulong count = header >> 1;
                if (count == 0) throw new ParquetFormatException("an RLE run has length 0");
                var vb = r.Take(byteWidth);
                int value = 0;
                for (int i = 0; i < byteWidth; i++) value |= vb[i] << (8 * i);
                int take = (int)Math.Min(count, (ulong)(output.Length - n));
                output.Slice(n, take).Fill(value);
                n += take;
            }
            else
            {
                ulong groups = header >> 1;
                if (groups == 0) throw new ParquetFormatException("a bit-packed run has no groups");
                long bytes = (long)groups * bitWidth;
                if (groups > int.MaxValue / 8 || bytes > r.Remaining)
                {
                    // Writers may end the last run early; take what is there.
                    bytes = Math.Min(bytes, r.Remaining);
                }
                var packed = r.Take(bytes);
                long values = bitWidth == 0 ? (long)groups * 8 : bytes * 8 / bitWidth;
                int take = (int)Math.Min(values, output.Length - n);
                Unpack(packed, bitWidth, output.Slice(n, take));
                n += take;
            }
        }
    }

    /// <summary>Little-endian bit unpacking (LSB first), as Parquet packs levels, indices and deltas.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, int bitWidth, Span<int> output)
    {
        if (bitWidth == 0) { output.Clear(); return; }
        long bit = 0;
        ulong mask = bitWidth == 64 ? ulong.MaxValue : (1UL << bitWidth) - 1;
        for (int i = 0; i < output.Length; i++, bit += bitWidth)
        {
            output[i] = (int)(ReadBits(packed, bit, bitWidth) & mask);
        }
    }

    public static ulong ReadBits(ReadOnlySpan<byte> packed, long bit, int width)
    {
        ulong v = 0;
        int got = 0;
        long byteIndex = bit >> 3;
        int shift = (int)(bit & 7);
        while (got < width)
        {
            if (byteIndex >= packed.Length) throw new ParquetFormatException("bit-packed data ends early");
            ulong b = (ulong)packed[(int)byteIndex] >> shift;
            int avail = 8 - shift;
            v |= b << got;
            got += avail;
            shift = 0;
            byteIndex++;
        }
        return width == 64 ? v : v & ((1UL << width) - 1);
    }

    /// <summary>DELTA_BINARY_PACKED: up to <paramref name="count"/> values; returns them and advances the reader.</summary>
    public static long[] DeltaBinaryPacked(ref ByteReader r)
    {
        ulong blockSize = r.Varint();
        ulong miniblocks = r.Varint();
        ulong total = r.Varint();
        long first = r.ZigZag();
        if (blockSize == 0 || miniblocks == 0 || blockSize % 128 != 0 || blockSize / miniblocks % 32 != 0 || miniblocks > blockSize)
            throw new ParquetFormatException($"DELTA_BINARY_PACKED header is invalid (block {blockSize}, miniblocks {miniblocks})");
        if (total > int.MaxValue) throw new ParquetFormatException("DELTA_BINARY_PACKED holds too many values");
        int n = (int)total;
        if (n > r.Remaining * 64L + 1) throw new ParquetFormatException($"DELTA_BINARY_PACKED claims {n} values, more than its page can hold");
        var values = new long[n];
        if (n == 0) return values;
        values[0] = first;
        int have = 1;
        int perMini = (int)(blockSize / miniblocks);
        var widths = new byte[miniblocks];
        long prev = first;
        while (have < n)
        {
            long minDelta = r.ZigZag();
            r.Take((long)miniblocks).CopyTo(widths);
            for (int m = 0; m < (int)miniblocks && have < n; m++)
            {
                int w = widths[m];
                if (w > 64) throw new ParquetFormatException($"a DELTA_BINARY_PACKED miniblock has bit width {w}");
                var packed = r.Take((long)perMini * w / 8);
                for (int i = 0; i < perMini && have < n; i++)
                {
                    ulong d = w == 0 ? 0 : ReadBits(packed, (long)i * w, w);
                    prev = unchecked(prev + minDelta + (long)d);
                    values[have++] = prev;
                }
            }
        }
        return values;
    }

    /// <summary>DELTA_LENGTH_BYTE_ARRAY: lengths (delta-packed), then the bytes back to back.</summary>
    public static byte[][] DeltaLengthByteArray(ref ByteReader r)
    {
        long[] lengths = DeltaBinaryPacked(ref r);
        var result = new byte[lengths.Length][];
        for (int i = 0; i < lengths.Length; i++) result[i] = r.Take(lengths[i]).ToArray();
        return result;
    }

    /// <summary>DELTA_BYTE_ARRAY: prefix lengths and suffixes; each value = prefix of the previous + suffix.</summary>
    public static byte[][] DeltaByteArray(ref ByteReader r)
    {
        long[] prefixes = DeltaBinaryPacked(ref r);
        byte[][] suffixes = DeltaLengthByteArray(ref r);
        if (prefixes.Length != suffixes.Length) throw new ParquetFormatException($"DELTA_BYTE_ARRAY has {prefixes.Length} prefixes but {suffixes.Length} suffixes");
        var result = new byte[prefixes.Length][];
        byte[] prev = [];
        for (int i = 0; i < result.Length; i++)
        {
            long p = prefixes[i];
            if (p < 0 || p > prev.Length) throw new ParquetFormatException($"DELTA_BYTE_ARRAY prefix {p} is longer than the previous value");
            var v = new byte[p + suffixes[i].Length];
            prev.AsSpan(0, (int)p).CopyTo(v);
            suffixes[i].CopyTo(v, (int)p);
            result[i] = v;
            prev = v;
        }
        return result;
    }

    /// <summary>BYTE_STREAM_SPLIT: byte k of every value is stored in stream k; returns values of <paramref name="width"/> bytes.</summary>
    public static byte[] ByteStreamSplit(ReadOnlySpan<byte> data, int width, int count)
    {
        if ((long)width * count > data.Length) throw new ParquetFormatException($"BYTE_STREAM_SPLIT needs {(long)width * count} bytes but the page has {data.Length}");
        int streamLen = data.Length / width;
        var outBytes = new byte[width * count];
        for (int i = 0; i < count; i++)
            for (int k = 0; k < width; k++)
                outBytes[i * width + k] = data[k * streamLen + i];
        return outBytes;
    }
}
