using System.Buffers.Binary;
using System.Text;

namespace Finetune.Tokenizers;

/// <summary>The few fields of a SentencePiece ModelProto (spiece.model) a tokenizer needs, parsed by hand.</summary>
internal sealed class SentencePieceProto
{
    public List<string> Pieces { get; } = new();
    public List<float> Scores { get; } = new();
    public List<int> Types { get; } = new();
    public int ModelType { get; private set; } = 1; // 1 unigram, 2 bpe, 3 word, 4 char
    public byte[]? PrecompiledCharsmap { get; private set; }
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;
    public bool EscapeWhitespaces { get; private set; } = true;
    public string NormalizerName { get; private set; } = "";

    public static SentencePieceProto Load(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (IOException e) { throw new FinetuneException(ErrorKind.Io, $"cannot read {path}: {e.Message}", e); }
        var proto = new SentencePieceProto();
        try
        {
            proto.ParseModel(data);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or InvalidDataException or OverflowException)
        {
            throw FinetuneException.Invalid($"{path} is not a valid SentencePiece model ({e.Message})", e);
        }
        if (proto.Pieces.Count == 0) throw FinetuneException.Invalid($"{path} is not a valid SentencePiece model (it holds no pieces)");
        return proto;
    }

    private void ParseModel(ReadOnlySpan<byte> d)
    {
        int p = 0;
        while (p < d.Length)
        {
            ulong tag = Varint(d, ref p);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (wire == 2)
            {
                int len = checked((int)Varint(d, ref p));
                var sub = d.Slice(p, len);
                p += len;
                if (field == 1) ParsePiece(sub);
                else if (field == 2) ParseTrainer(sub);
                else if (field == 3) ParseNormalizer(sub);
            }
            else Skip(d, ref p, wire);
        }
    }

    private void ParsePiece(ReadOnlySpan<byte> d)
    {
        string piece = ""; float score = 0; int type = 1;
        int p = 0;
        while (p < d.Length)
        {
            ulong tag = Varint(d, ref p);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (field == 1 && wire == 2) { int len = (int)Varint(d, ref p); piece = System.Text.Encoding.UTF8.GetString(d.Slice(p, len)); p += len; }
            else if (field == 2 && wire == 5) { score = BinaryPrimitives.ReadSingleLittleEndian(d[p..]); p += 4; }
            else if (field == 3 && wire == 0) type = (int)Varint(d, ref p);
            else Skip(d, ref p, wire);
        }
        Pieces.Add(piece); Scores.Add(score); Types.Add(type);
    }

    private void ParseTrainer(ReadOnlySpan<byte> d)
    {
        int p = 0;
        while (p < d.Length)
        {
            ulong tag = Varint(d, ref p);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (field == 3 && wire == 0) ModelType = (int)Varint(d, ref p);
            else Skip(d, ref p, wire);
        }
    }

    private void ParseNormalizer(ReadOnlySpan<byte> d)
    {
        int p = 0;
        while (p < d.Length)
        {
            ulong tag = Varint(d, ref p);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (wire == 2)
            {
                int len = (int)Varint(d, ref p);
                if (field == 1) NormalizerName = System.Text.Encoding.UTF8.GetString(d.Slice(p, len));
                if (field == 2) PrecompiledCharsmap = d.Slice(p, len).ToArray();
                p += len;
            }
            else if (wire == 0)
            {
                bool v = Varint(d, ref p) != 0;
                if (field == 3) AddDummyPrefix = v;
                else if (field == 4) RemoveExtraWhitespaces = v;
                else if (field == 5) EscapeWhitespaces = v;
            }
            else Skip(d, ref p, wire);
        }
    }

    private static ulong Varint(ReadOnlySpan<byte> d, ref int p)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            if (shift > 63) throw new InvalidDataException("varint too long");
            byte b = d[p++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
    }

    private static void Skip(ReadOnlySpan<byte> d, ref int p, int wire)
    {
        switch (wire)
        {
            case 0: Varint(d, ref p); break;
            case 1: p += 8; break;
            case 2: int len = checked((int)Varint(d, ref p)); p += len; break;
            case 5: p += 4; break;
            default: throw new InvalidDataException($"unknown wire type {wire}");
        }
        if (p > d.Length) throw new InvalidDataException("truncated field");
    }
}

/// <summary>
/// SentencePiece's precompiled normalization map: a darts-clone double-array trie over UTF-8 keys whose values
/// are offsets into a blob of NUL-terminated replacement strings. Layout: uint32 trie size in bytes, the trie's
/// uint32 units, then the strings.
/// </summary>
internal sealed class PrecompiledCharsMap
{
    private readonly uint[] _units;
    private readonly byte[] _normalized;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _strings = new();

    public PrecompiledCharsMap(byte[] blob, string source)
    {
        if (blob.Length < 4) throw FinetuneException.Invalid($"{source}: the precompiled charsmap is too short");
        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize > blob.Length - 4 || trieSize % 4 != 0) throw FinetuneException.Invalid($"{source}: the precompiled charsmap's trie size {trieSize} does not fit the blob");
        _units = new uint[trieSize / 4];
        for (int i = 0; i < _units.Length; i++) _units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4 + i * 4));
        _normalized = blob.AsSpan(4 + (int)trieSize).ToArray();
    }

    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    /// <summary>All (length, value) prefixes of <paramref name="key"/> that are keys of the trie, shortest first.</summary>
    public int CommonPrefixSearch(ReadOnlySpan<byte> key, Span<(int Length, int Value)> results)
    {
        int found = 0;
        if (_units.Length == 0) return 0;
        uint nodePos = 0;
        uint unit = _units[nodePos];
        nodePos ^= Offset(unit);
        for (int i = 0; i < key.Length; i++)
        {
            nodePos ^= key[i];
            if (nodePos >= _units.Length) return found;
            unit = _units[nodePos];
            if ((unit & ((1u << 31) | 0xFF)) != key[i]) return found;
            nodePos ^= Offset(unit);
            if (((unit >> 8) & 1) != 0 && nodePos < _units.Length && found < results.Length)
                results[found++] = (i + 1, (int)(_units[nodePos] & 0x7FFFFFFF));
        }
        return found;
    }

    /// <summary>The NUL-terminated replacement string at <paramref name="value"/> (decoded once, then cached).</summary>
    public string Replacement(int value) => _strings.GetOrAdd(value, v =>
    {
        if ((uint)v >= (uint)_normalized.Length) return "";
        int end = Array.IndexOf(_normalized, (byte)0, v);
        return System.Text.Encoding.UTF8.GetString(_normalized, v, (end < 0 ? _normalized.Length : end) - v);
    });

    /// <summary>
    /// The longest rule matching at unit <paramref name="i"/> of <paramref name="text"/>: how many units it
    /// consumes and its replacement, or (0, null) when none matches.
    /// </summary>
    public (int Units, string? Replacement) LongestMatch(ReadOnlySpan<char> text, int i, int maxUnits = int.MaxValue)
    {
        Span<byte> bytes = stackalloc byte[64];
        Span<int> unitsAt = stackalloc int[65];
        int nb = 0, u = i;
        Span<byte> tmp = stackalloc byte[4];
        int limit = (int)Math.Min(text.Length, (long)i + maxUnits);
        while (u < limit && nb <= 60)
        {
            int cp = NormalizedText.CodePointAt(text, u, out int w);
            int k = NormalizedText.Utf8(cp, tmp);
            for (int b = 0; b < k; b++) { bytes[nb] = tmp[b]; unitsAt[nb + 1] = -1; nb++; }
            u += w;
            unitsAt[nb] = u - i;
        }
        Span<(int, int)> results = stackalloc (int, int)[32];
        int n = CommonPrefixSearch(bytes[..nb], results);
        for (int r = n - 1; r >= 0; r--)
        {
            var (len, value) = results[r];
            if (unitsAt[len] > 0) return (unitsAt[len], Replacement(value));
        }
        return (0, null);
    }
}
