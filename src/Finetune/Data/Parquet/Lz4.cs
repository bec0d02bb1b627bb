using System.Buffers.Binary;

namespace Finetune.Data.Parquet;

/// <summary>LZ4 block decompression (Parquet's LZ4_RAW) and the Hadoop framing older writers used for LZ4.</summary>
internal static class Lz4
{
    public static byte[] DecompressRaw(ReadOnlySpan<byte> src, int size)
    {
        var dst = new byte[size];
        int written = Block(src, dst);
        if (written != size) throw new ParquetFormatException($"an LZ4 page decompressed to {written} bytes, not {size}");
        return dst;
    }

    /// <summary>Hadoop's framing (big-endian sizes before each block); falls back to a raw block as Arrow does.</summary>
    public static byte[] DecompressHadoop(ReadOnlySpan<byte> src, int size)
    {
        try
        {
            var dst = new byte[size];
            int inPos = 0, outPos = 0;
            while (inPos < src.Length)
            {
                if (src.Length - inPos < 8) throw new ParquetFormatException("truncated Hadoop LZ4 frame");
                int rawLen = BinaryPrimitives.ReadInt32BigEndian(src.Slice(inPos));
                int compLen = BinaryPrimitives.ReadInt32BigEndian(src.Slice(inPos + 4));
                inPos += 8;
                if (rawLen < 0 || compLen < 0 || compLen > src.Length - inPos || rawLen > size - outPos) throw new ParquetFormatException("bad Hadoop LZ4 frame");
                int got = Block(src.Slice(inPos, compLen), dst.AsSpan(outPos, rawLen));
                if (got != rawLen) throw new ParquetFormatException("bad Hadoop LZ4 frame");
                inPos += compLen;
                outPos += rawLen;
            }
            if (outPos != size) throw new ParquetFormatException("bad Hadoop LZ4 frame");
            return dst;
        }
        catch (ParquetFormatException)
        {
            return DecompressRaw(src, size);
        }
    }

    /// <summary>Decodes one LZ4 block into <paramref name="dst"/>; returns the bytes written.</summary>
    private static int Block(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int ip = 0, op = 0;
        while (ip < src.Length)
        {
            int token = src[ip++];
            int lit = token >> 4;
            if (lit == 15) lit += ReadLength(src, ref ip);
            if (lit > src.Length - ip || lit > dst.Length - op) throw new ParquetFormatException("LZ4 literals run past the end");
            src.Slice(ip, lit).CopyTo(dst.Slice(op));
            ip += lit;
            op += lit;
            if (ip >= src.Length) break; // the last sequence has literals only
            if (src.Length - ip < 2) throw new ParquetFormatException("LZ4 match offset is truncated");
            int offset = src[ip] | (src[ip + 1] << 8);
            ip += 2;
            if (offset == 0 || offset > op) throw new ParquetFormatException("LZ4 match offset points before the start");
            int len = (token & 15);
            if (len == 15) len += ReadLength(src, ref ip);
            len += 4;
            if (len > dst.Length - op) throw new ParquetFormatException("LZ4 match runs past the end");
            for (int i = 0; i < len; i++) dst[op + i] = dst[op - offset + i];
            op += len;
        }
        return op;
    }

    private static int ReadLength(ReadOnlySpan<byte> src, ref int ip)
    {
        int len = 0;
        byte b;
        do
        {
            if (ip >= src.Length) throw new ParquetFormatException("LZ4 length is truncated");
            b = src[ip++];
            len += b;
            if (len > 1 << 30) throw new ParquetFormatException("LZ4 length is too large");
        } while (b == 255);
        return len;
    }
}
