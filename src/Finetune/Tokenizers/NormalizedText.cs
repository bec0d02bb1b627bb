using System.Text;

namespace Finetune.Tokenizers;

/// <summary>
/// A piece of text being normalized, with every UTF-16 unit remembering the span [start, end) of the ORIGINAL
/// string it came from, so that tokens can report offsets into what the user passed. Normalizers rewrite it with
/// <see cref="Begin"/> / <see cref="Emit(char,int,int)"/> / <see cref="Commit"/>; buffers are reused, so one
/// instance per thread does all the work without allocating per token.
/// </summary>
internal sealed class NormalizedText
{
    private char[] _buf = new char[256];
    private int[] _start = new int[256];
    private int[] _end = new int[256];
    private char[] _nbuf = new char[256];
    private int[] _nstart = new int[256];
    private int[] _nend = new int[256];
    private int _nlen;

    public int Length { get; private set; }

    public ReadOnlySpan<char> Text => _buf.AsSpan(0, Length);

    public Span<char> Buffer => _buf.AsSpan(0, Length);

    public int OrigStart(int i) => _start[i];

    public int OrigEnd(int i) => _end[i];

    /// <summary>Starts from <paramref name="original"/>[from..to), each unit aligned to itself.</summary>
    public void Reset(ReadOnlySpan<char> original, int from, int to)
    {
        Length = 0;
        Ensure(ref _buf, ref _start, ref _end, to - from);
        for (int i = from; i < to; i++)
        {
            _buf[Length] = original[i];
            _start[Length] = i;
            _end[Length] = i + 1;
            Length++;
        }
    }

    /// <summary>Starts from units [from, to) of another normalized text, keeping their alignments.</summary>
    public void CopyFrom(NormalizedText src, int from, int to)
    {
        Length = 0;
        Ensure(ref _buf, ref _start, ref _end, to - from);
        for (int i = from; i < to; i++)
        {
            _buf[Length] = src._buf[i];
            _start[Length] = src._start[i];
            _end[Length] = src._end[i];
            Length++;
        }
    }

    /// <summary>Reads the code point at <paramref name="i"/> and its width in UTF-16 units (a lone surrogate reads as itself).</summary>
    public int CodePointAt(int i, out int width) => CodePointAt(Text, i, out width);

    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int width)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        width = 1;
        return c;
    }

    public void Begin() => _nlen = 0;

    public void Emit(char c, int start, int end)
    {
        if (_nlen == _nbuf.Length) Grow(ref _nbuf, ref _nstart, ref _nend, _nlen + 1);
        _nbuf[_nlen] = c;
        _nstart[_nlen] = start;
        _nend[_nlen] = end;
        _nlen++;
    }

    public void EmitCodePoint(int cp, int start, int end)
    {
        if (cp < 0x10000) { Emit((char)cp, start, end); return; }
        cp -= 0x10000;
        Emit((char)(0xD800 + (cp >> 10)), start, end);
        Emit((char)(0xDC00 + (cp & 0x3FF)), start, end);
    }

    /// <summary>Copies units [from, to) of the current text unchanged into the text being built.</summary>
    public void EmitRange(int from, int to)
    {
        for (int i = from; i < to; i++) Emit(_buf[i], _start[i], _end[i]);
    }

    /// <summary>Number of units emitted since <see cref="Begin"/>.</summary>
    public int Emitted => _nlen;

    public void Commit()
    {
        (_buf, _nbuf) = (_nbuf, _buf);
        (_start, _nstart) = (_nstart, _start);
        (_end, _nend) = (_nend, _end);
        Length = _nlen;
    }

    public override string ToString() => new(Text);

    private static void Ensure(ref char[] b, ref int[] s, ref int[] e, int n)
    {
        if (b.Length < n) Grow(ref b, ref s, ref e, n);
    }

    private static void Grow(ref char[] b, ref int[] s, ref int[] e, int n)
    {
        int size = Math.Max(n, b.Length * 2);
        Array.Resize(ref b, size);
        Array.Resize(ref s, size);
        Array.Resize(ref e, size);
    }

    /// <summary>Appends the UTF-8 bytes of one code point.</summary>
    public static int Utf8(int cp, Span<byte> dest) => new Rune(cp < 0xD800 || cp > 0xDFFF ? cp : 0xFFFD).EncodeToUtf8(dest);
}

/// <summary>A pre-tokenized word: units [Start, End) of the <see cref="NormalizedText"/>; AddedId ≥ 0 for an added token.</summary>
internal record struct Piece(int Start, int End, int AddedId = -1);
