namespace Finetune.Data.Parquet;

/// <summary>
/// A Zstandard decompressor (RFC 8878) for Parquet pages: frames without dictionaries, raw/RLE/compressed blocks,
/// Huffman literals (1 or 4 streams, treeless reuse), FSE-coded sequences with predefined, RLE, compressed and
/// repeated tables, and repeat offsets. Every read is bounds-checked; corrupt input throws ParquetFormatException.
/// </summary>
internal static class Zstd
{
    public static byte[] Decompress(ReadOnlySpan<byte> src, int expected)
    {
        var output = new byte[expected];
        int outPos = 0;
        int pos = 0;
        while (pos < src.Length)
        {
            if (src.Length - pos < 4) throw Corrupt("truncated frame magic");
            uint magic = BitConverter.ToUInt32(src.Slice(pos, 4));
            pos += 4;
            if ((magic & 0xFFFFFFF0) == 0x184D2A50)
            {
                if (src.Length - pos < 4) throw Corrupt("truncated skippable frame");
                long skip = BitConverter.ToUInt32(src.Slice(pos, 4));
                pos += 4;
                if (skip > src.Length - pos) throw Corrupt("skippable frame runs past the end");
                pos += (int)skip;
                continue;
            }
            if (magic != 0xFD2FB528) throw Corrupt("bad frame magic");
            var frame = new Frame(output, outPos);
            pos = frame.Decode(src, pos);
            outPos = frame.OutPos;
        }
        if (outPos != expected) throw Corrupt($"decompressed to {outPos} bytes, not {expected}");
        return output;
    }

    private static ParquetFormatException Corrupt(string what) => new($"a ZSTD page is corrupt ({what})");

    // Literal-length and match-length codes: baseline value and extra bits.
    private static readonly int[] LlBase = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
    private static readonly int[] LlBits = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    private static readonly int[] MlBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539];
    private static readonly int[] MlBits = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    private static readonly short[] LlDefault = [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1];
    private static readonly short[] MlDefault = [1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1];
    private static readonly short[] OfDefault = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1];

    private static int HighBit(uint v) => 31 - System.Numerics.BitOperations.LeadingZeroCount(v);

    /// <summary>A bitstream read backwards from its end, as ZSTD's entropy coders write them.</summary>
    private ref struct ReverseBits
    {
        private readonly ReadOnlySpan<byte> _data;
        public long Offset;

        public ReverseBits(ReadOnlySpan<byte> data)
        {
            _data = data;
            if (data.Length == 0 || data[^1] == 0) throw Corrupt("a bitstream lacks its end marker");
            Offset = (long)data.Length * 8 - (8 - HighBit(data[^1]));
        }

        public ulong Read(int bits)
        {
            if (bits == 0) return 0;
            Offset -= bits;
            long off = Offset;
            int actual = bits;
            if (off < 0)
            {
                actual += (int)off;
                off = 0;
            }
            ulong res = 0;
            for (int i = 0; i < actual; i++)
            {
                long b = off + i;
                res |= (ulong)((_data[(int)(b >> 3)] >> (int)(b & 7)) & 1) << i;
            }
            if (Offset < 0) res = -Offset >= 64 ? 0 : res << (int)-Offset;
            return res;
        }
    }

    /// <summary>An FSE decoding table.</summary>
    private sealed class Fse
    {
        public byte[] Symbol = [];
        public byte[] NumBits = [];
        public int[] Base = [];
        public int Log;

        public static Fse Rle(byte symbol) => new() { Symbol = [symbol], NumBits = [0], Base = [0], Log = 0 };

        public static Fse Build(short[] freq, int log)
        {
            int size = 1 << log;
            var t = new Fse { Symbol = new byte[size], NumBits = new byte[size], Base = new int[size], Log = log };
            int high = size;
            var next = new int[freq.Length];
            for (int s = 0; s < freq.Length; s++)
            {
                if (freq[s] == -1)
                {
                    if (high == 0) throw Corrupt("an FSE table overflows");
                    t.Symbol[--high] = (byte)s;
                    next[s] = 1;
                }
                else next[s] = freq[s];
            }
            int step = (size >> 1) + (size >> 3) + 3, mask = size - 1, pos = 0;
            for (int s = 0; s < freq.Length; s++)
            {
                for (int i = 0; i < freq[s]; i++)
                {
                    t.Symbol[pos] = (byte)s;
                    do { pos = (pos + step) & mask; } while (pos >= high);
                }
            }
            if (pos != 0) throw Corrupt("an FSE distribution does not fill its table");
            for (int i = 0; i < size; i++)
            {
                int s = t.Symbol[i];
                int desc = next[s]++;
                if (desc <= 0) throw Corrupt("an FSE state has no successor");
                int nb = log - HighBit((uint)desc);
                t.NumBits[i] = (byte)nb;
                t.Base[i] = (desc << nb) - size;
            }
            return t;
        }

        /// <summary>Reads an FSE table description (RFC 8878 4.1.1); returns the bytes used.</summary>
        public static Fse Read(ReadOnlySpan<byte> src, int maxLog, int maxSymbol, out int used)
        {
            long bit = 0;
            int log = ReadForward(src, ref bit, 4) + 5;
            if (log > maxLog) throw Corrupt($"FSE accuracy log {log} exceeds {maxLog}");
            int remaining = 1 << log;
            var freq = new List<short>();
            while (remaining > 0 && freq.Count <= maxSymbol)
            {
                int bits = HighBit((uint)(remaining + 1)) + 1;
                int val = ReadForward(src, ref bit, bits);
                int lowerMask = (1 << (bits - 1)) - 1;
                int threshold = (1 << bits) - 1 - (remaining + 1);
                if ((val & lowerMask) < threshold)
                {
                    bit--;
                    val &= lowerMask;
                }
                else if (val > lowerMask) val -= threshold;
                int proba = val - 1;
                remaining -= Math.Abs(proba);
                freq.Add((short)proba);
                if (proba == 0)
                {
                    int repeat = ReadForward(src, ref bit, 2);
                    while (true)
                    {
                        for (int i = 0; i < repeat && freq.Count <= maxSymbol; i++) freq.Add(0);
                        if (repeat == 3) repeat = ReadForward(src, ref bit, 2);
                        else break;
                    }
                }
            }
            if (remaining != 0 || freq.Count > maxSymbol + 1) throw Corrupt("an FSE distribution is invalid");
            used = (int)((bit + 7) >> 3);
            return Build(freq.ToArray(), log);
        }

        private static int ReadForward(ReadOnlySpan<byte> src, ref long bit, int n)
        {
            int v = 0;
            for (int i = 0; i < n; i++, bit++)
            {
                if (bit >> 3 >= src.Length) throw Corrupt("an FSE table description is truncated");
                v |= ((src[(int)(bit >> 3)] >> (int)(bit & 7)) & 1) << i;
            }
            return v;
        }
    }

    /// <summary>A Huffman decoding table for literals.</summary>
    private sealed class Huffman
    {
        public byte[] Symbols = [];
        public byte[] NumBits = [];
        public int MaxBits;

        public static Huffman Read(ReadOnlySpan<byte> src, out int used)
        {
            if (src.Length == 0) throw Corrupt("missing Huffman tree");
            int header = src[0];
            var weights = new List<byte>();
            if (header < 128)
            {
                if (header + 1 > src.Length) throw Corrupt("Huffman weights run past the end");
                var data = src.Slice(1, header);
                var fse = Fse.Read(data, 6, 255, out int tableBytes);
                var bits = new ReverseBits(data[tableBytes..]);
                int s1 = (int)bits.Read(fse.Log), s2 = (int)bits.Read(fse.Log);
                while (true)
                {
                    if (weights.Count > 255) throw Corrupt("too many Huffman weights");
                    weights.Add(fse.Symbol[s1]);
                    s1 = fse.Base[s1] + (int)bits.Read(fse.NumBits[s1]);
                    if (bits.Offset < 0) { weights.Add(fse.Symbol[s2]); break; }
                    weights.Add(fse.Symbol[s2]);
                    s2 = fse.Base[s2] + (int)bits.Read(fse.NumBits[s2]);
                    if (bits.Offset < 0) { weights.Add(fse.Symbol[s1]); break; }
                }
                used = 1 + header;
            }
            else
            {
                int n = header - 127;
                int bytes = (n + 1) / 2;
                if (1 + bytes > src.Length) throw Corrupt("Huffman weights run past the end");
                for (int i = 0; i < n; i++)
                {
                    byte b = src[1 + i / 2];
                    weights.Add((byte)(i % 2 == 0 ? b >> 4 : b & 15));
                }
                used = 1 + bytes;
            }
            return Build(weights);
        }

        private static Huffman Build(List<byte> weights)
        {
            long total = 0;
            foreach (var w in weights)
            {
                if (w > 11) throw Corrupt("a Huffman weight is too large");
                if (w > 0) total += 1L << (w - 1);
            }
            if (total == 0) throw Corrupt("Huffman weights are all zero");
            int maxBits = HighBit((uint)total) + 1;
            long leftover = (1L << maxBits) - total;
            if ((leftover & (leftover - 1)) != 0) throw Corrupt("Huffman weights do not complete a tree");
            weights.Add((byte)(HighBit((uint)leftover) + 1));
            if (maxBits > 11) throw Corrupt("Huffman codes are too long");
            int n = weights.Count;
            var bits = new int[n];
            var rankCount = new int[maxBits + 2];
            for (int i = 0; i < n; i++)
            {
                bits[i] = weights[i] > 0 ? maxBits + 1 - weights[i] : 0;
                rankCount[bits[i]]++;
            }
            int size = 1 << maxBits;
            var h = new Huffman { Symbols = new byte[size], NumBits = new byte[size], MaxBits = maxBits };
            var rankIdx = new int[maxBits + 2];
            rankIdx[maxBits] = 0;
            for (int i = maxBits; i >= 1; i--)
            {
                rankIdx[i - 1] = rankIdx[i] + rankCount[i] * (1 << (maxBits - i));
                if (rankIdx[i - 1] > size) throw Corrupt("Huffman table overflows");
                h.NumBits.AsSpan(rankIdx[i], rankIdx[i - 1] - rankIdx[i]).Fill((byte)i);
            }
            for (int i = 0; i < n; i++)
            {
                if (bits[i] == 0) continue;
                int code = rankIdx[bits[i]], len = 1 << (maxBits - bits[i]);
                if (code + len > size) throw Corrupt("Huffman table overflows");
                h.Symbols.AsSpan(code, len).Fill((byte)i);
                rankIdx[bits[i]] += len;
            }
            return h;
        }

        public void DecodeStream(ReadOnlySpan<byte> src, Span<byte> dst)
        {
            var bits = new ReverseBits(src);
            int mask = (1 << MaxBits) - 1;
            int state = (int)bits.Read(MaxBits);
            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] = Symbols[state];
                int nb = NumBits[state];
                state = ((state << nb) + (int)bits.Read(nb)) & mask;
            }
            if (bits.Offset != -MaxBits) throw Corrupt("a Huffman stream has the wrong length");
        }
    }

    private sealed class Frame
    {
        private readonly byte[] _out;
        private Huffman? _huffman;
        private Fse? _ll, _of, _ml;
        private readonly long[] _rep = [1, 4, 8];

        public Frame(byte[] output, int outPos)
        {
            _out = output;
            OutPos = outPos;
        }

        public int OutPos { get; private set; }

        public int Decode(ReadOnlySpan<byte> src, int pos)
        {
            if (pos >= src.Length) throw Corrupt("truncated frame header");
            int fhd = src[pos++];
            int fcsFlag = fhd >> 6;
            bool single = (fhd & 0x20) != 0;
            bool checksum = (fhd & 0x04) != 0;
            int dictFlag = fhd & 3;
            if ((fhd & 0x08) != 0) throw Corrupt("reserved frame header bit set");
            if (!single) pos++;
            int dictBytes = dictFlag switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
            if (pos + dictBytes > src.Length) throw Corrupt("truncated frame header");
            for (int i = 0; i < dictBytes; i++)
            {
                if (src[pos + i] != 0) throw new UnsupportedParquetException("ZSTD dictionaries are not supported");
            }
            pos += dictBytes;
            int fcsBytes = fcsFlag switch { 0 => single ? 1 : 0, 1 => 2, 2 => 4, _ => 8 };
            pos += fcsBytes;
            if (pos > src.Length) throw Corrupt("truncated frame header");
            while (true)
            {
                if (src.Length - pos < 3) throw Corrupt("truncated block header");
                int bh = src[pos] | (src[pos + 1] << 8) | (src[pos + 2] << 16);
                pos += 3;
                bool last = (bh & 1) != 0;
                int type = (bh >> 1) & 3;
                int size = bh >> 3;
                switch (type)
                {
                    case 0:
                        if (size > src.Length - pos) throw Corrupt("raw block runs past the end");
                        Emit(src.Slice(pos, size));
                        pos += size;
                        break;
                    case 1:
                        if (pos >= src.Length) throw Corrupt("RLE block is empty");
                        if (size > _out.Length - OutPos) throw Corrupt("output is larger than the page");
                        _out.AsSpan(OutPos, size).Fill(src[pos]);
                        OutPos += size;
                        pos += 1;
                        break;
                    case 2:
                        if (size > src.Length - pos || size > 1 << 17) throw Corrupt("compressed block runs past the end");
                        CompressedBlock(src.Slice(pos, size));
                        pos += size;
                        break;
                    default:
                        throw Corrupt("reserved block type");
                }
                if (last) break;
            }
            if (checksum)
            {
                if (src.Length - pos < 4) throw Corrupt("truncated checksum");
                pos += 4;
            }
            return pos;
        }

        private void Emit(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length > _out.Length - OutPos) throw Corrupt("output is larger than the page");
            bytes.CopyTo(_out.AsSpan(OutPos));
            OutPos += bytes.Length;
        }

        private void CompressedBlock(ReadOnlySpan<byte> block)
        {
            int pos = 0;
            byte[] literals = Literals(block, ref pos);
            Sequences(block[pos..], literals);
        }

        private byte[] Literals(ReadOnlySpan<byte> b, ref int pos)
        {
            if (b.Length < 1) throw Corrupt("missing literals header");
            int b0 = b[0];
            int type = b0 & 3, sizeFormat = (b0 >> 2) & 3;
            if (type is 0 or 1)
            {
                int regen, header;
                switch (sizeFormat)
                {
                    case 0:
                    case 2: regen = b0 >> 3; header = 1; break;
                    case 1: Need(b, 2); regen = (b0 >> 4) + (b[1] << 4); header = 2; break;
                    default: Need(b, 3); regen = (b0 >> 4) + (b[1] << 4) + (b[2] << 12); header = 3; break;
                }
                if (regen > 1 << 17) throw Corrupt("too many literals");
                if (type == 0)
                {
                    if (header + regen > b.Length) throw Corrupt("raw literals run past the end");
                    pos = header + regen;
                    return b.Slice(header, regen).ToArray();
                }
                Need(b, header + 1);
                pos = header + 1;
                var rle = new byte[regen];
                Array.Fill(rle, b[header]);
                return rle;
            }
            int regenSize, compSize, hdr;
            bool four = sizeFormat != 0;
            switch (sizeFormat)
            {
                case 0:
                case 1:
                    Need(b, 3);
                    regenSize = (b0 >> 4) | ((b[1] & 0x3F) << 4);
                    compSize = (b[1] >> 6) | (b[2] << 2);
                    hdr = 3;
                    break;
                case 2:
                    Need(b, 4);
                    regenSize = (b0 >> 4) | (b[1] << 4) | ((b[2] & 3) << 12);
                    compSize = (b[2] >> 2) | (b[3] << 6);
                    hdr = 4;
                    break;
                default:
                    Need(b, 5);
                    regenSize = (b0 >> 4) | (b[1] << 4) | ((b[2] & 0x3F) << 12);
                    compSize = (b[2] >> 6) | (b[3] << 2) | (b[4] << 10);
                    hdr = 5;
                    break;
            }
            if (hdr + compSize > b.Length || regenSize > 1 << 17) throw Corrupt("compressed literals run past the end");
            var data = b.Slice(hdr, compSize);
            int at = 0;
            if (type == 2)
            {
                _huffman = Huffman.Read(data, out at);
            }
            else if (_huffman == null) throw Corrupt("treeless literals without a previous Huffman table");
            var outLit = new byte[regenSize];
            var streams = data[at..];
            if (!four) _huffman!.DecodeStream(streams, outLit);
            else
            {
                if (streams.Length < 6) throw Corrupt("missing Huffman jump table");
                int s1 = streams[0] | (streams[1] << 8), s2 = streams[2] | (streams[3] << 8), s3 = streams[4] | (streams[5] << 8);
                int s4 = streams.Length - 6 - s1 - s2 - s3;
                if (s4 < 1) throw Corrupt("Huffman jump table is invalid");
                int seg = (regenSize + 3) / 4;
                if (seg * 3 > regenSize) throw Corrupt("too few literals for four streams");
                int p = 6;
                _huffman!.DecodeStream(streams.Slice(p, s1), outLit.AsSpan(0, seg)); p += s1;
                _huffman.DecodeStream(streams.Slice(p, s2), outLit.AsSpan(seg, seg)); p += s2;
                _huffman.DecodeStream(streams.Slice(p, s3), outLit.AsSpan(2 * seg, seg)); p += s3;
                _huffman.DecodeStream(streams.Slice(p, s4), outLit.AsSpan(3 * seg));
            }
            pos = hdr + compSize;
            return outLit;
        }

        private static void Need(ReadOnlySpan<byte> b, int n)
        {
            if (b.Length < n) throw Corrupt("a block header is truncated");
        }

        private void Sequences(ReadOnlySpan<byte> b, byte[] literals)
        {
            if (b.Length == 0) throw Corrupt("missing sequences header");
            int pos = 0;
            int nb = b[pos++];
            if (nb == 0)
            {
                Emit(literals);
                return;
            }
            if (nb >= 128)
            {
                if (nb < 255) { Need(b, 2); nb = ((nb - 128) << 8) + b[pos++]; }
                else { Need(b, 3); nb = b[1] + (b[2] << 8) + 0x7F00; pos = 3; }
            }
            Need(b, pos + 1);
            int modes = b[pos++];
            if ((modes & 3) != 0) throw Corrupt("reserved sequence mode bits set");
            _ll = Table((modes >> 6) & 3, b, ref pos, LlDefault, 6, 9, 35, _ll);
            _of = Table((modes >> 4) & 3, b, ref pos, OfDefault, 5, 8, 31, _of);
            _ml = Table((modes >> 2) & 3, b, ref pos, MlDefault, 6, 9, 52, _ml);
            var bits = new ReverseBits(b[pos..]);
            int ll = (int)bits.Read(_ll.Log), of = (int)bits.Read(_of.Log), ml = (int)bits.Read(_ml.Log);
            int lit = 0;
            for (int i = 0; i < nb; i++)
            {
                int ofCode = _of.Symbol[of], llCode = _ll.Symbol[ll], mlCode = _ml.Symbol[ml];
                if (ofCode > 31 || llCode >= LlBase.Length || mlCode >= MlBase.Length) throw Corrupt("a sequence code is out of range");
                long offsetValue = (1L << ofCode) + (long)bits.Read(ofCode);
                long matchLen = MlBase[mlCode] + (long)bits.Read(MlBits[mlCode]);
                long litLen = LlBase[llCode] + (long)bits.Read(LlBits[llCode]);
                if (i < nb - 1)
                {
                    ll = _ll.Base[ll] + (int)bits.Read(_ll.NumBits[ll]);
                    ml = _ml.Base[ml] + (int)bits.Read(_ml.NumBits[ml]);
                    of = _of.Base[of] + (int)bits.Read(_of.NumBits[of]);
                }
                long offset = Offset(offsetValue, litLen);
                if (litLen > literals.Length - lit) throw Corrupt("a sequence uses more literals than the block has");
                Emit(literals.AsSpan(lit, (int)litLen));
                lit += (int)litLen;
                if (offset <= 0 || offset > OutPos) throw Corrupt("a match offset points before the start");
                if (matchLen > _out.Length - OutPos) throw Corrupt("output is larger than the page");
                int from = OutPos - (int)offset;
                for (int k = 0; k < matchLen; k++) _out[OutPos + k] = _out[from + k];
                OutPos += (int)matchLen;
            }
            if (bits.Offset != 0) throw Corrupt("the sequence bitstream has the wrong length");
            Emit(literals.AsSpan(lit));
        }

        private long Offset(long value, long litLen)
        {
            long offset;
            if (value <= 3)
            {
                long idx = value - 1;
                if (litLen == 0) idx++;
                if (idx == 0) return _rep[0];
                offset = idx < 3 ? _rep[idx] : _rep[0] - 1;
                if (idx > 1) _rep[2] = _rep[1];
                _rep[1] = _rep[0];
                _rep[0] = offset;
                return offset;
            }
            offset = value - 3;
            _rep[2] = _rep[1];
            _rep[1] = _rep[0];
            _rep[0] = offset;
            return offset;
        }

        private static Fse Table(int mode, ReadOnlySpan<byte> b, ref int pos, short[] defaults, int defaultLog, int maxLog, int maxSymbol, Fse? previous)
        {
            switch (mode)
            {
                case 0: return Fse.Build(defaults, defaultLog);
                case 1:
                    Need(b, pos + 1);
                    return Fse.Rle(b[pos++]);
                case 2:
                    {
                        var t = Fse.Read(b[pos..], maxLog, maxSymbol, out int used);
                        pos += used;
                        return t;
                    }
                default:
                    return previous ?? throw Corrupt("a repeated sequence table has no predecessor");
            }
        }
    }
}
