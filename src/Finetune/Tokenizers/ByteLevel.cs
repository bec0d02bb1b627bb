using System.Globalization;
using Finetune.Tokenizers.Unicode;

namespace Finetune.Tokenizers;

/// <summary>
/// GPT-2 byte-level pre-tokenization: the split of the regex
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> (written out by hand so that
/// astral letters and digits are classed by code point, as Python's regex and Rust's onig do), then every UTF-8
/// byte mapped to a printable character by the bytes_to_unicode table.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    public bool AddPrefixSpace => addPrefixSpace;

    public bool UseRegex => useRegex;

    public static readonly char[] ByteToChar = BuildTable();
    public static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(x => x.c, x => x.Item2);

    private static char[] BuildTable()
    {
        var table = new char[256];
        var direct = new bool[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) table[b] = direct[b] ? (char)b : (char)(256 + n++);
        return table;
    }

    [ThreadStatic] private static List<(int, int)>? _splits;

    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment)
    {
        var splits = _splits ??= new List<(int, int)>();
        var newPieces = new List<Piece>(pieces.Count * 4);
        Span<byte> utf8 = stackalloc byte[4];
        string? prefixed = null;
        t.Begin();
        foreach (var p in pieces)
        {
            bool prefix = addPrefixSpace && p.End > p.Start && t.Text[p.Start] != ' ';
            // The virtual leading space: split the piece as if it began with ' ' (index -1 maps to the first unit).
            ReadOnlySpan<char> body = t.Text[p.Start..p.End];
            ReadOnlySpan<char> view = body;
            if (prefix)
            {
                prefixed = " " + body.ToString();
                view = prefixed;
            }
            splits.Clear();
            if (useRegex) Gpt2Split(view, splits);
            else if (view.Length > 0) splits.Add((0, view.Length));
            int off = prefix ? 1 : 0;
            foreach (var (s, e) in splits)
            {
                int start = t.Emitted;
                for (int i = s; i < e;)
                {
                    int cp = NormalizedText.CodePointAt(view, i, out int w);
                    int src = p.Start + i - off;
                    int os = src < p.Start ? t.OrigStart(p.Start) : t.OrigStart(src);
                    int oe = src < p.Start ? t.OrigStart(p.Start) : t.OrigEnd(src + w - 1);
                    int nb = NormalizedText.Utf8(cp, utf8);
                    for (int k = 0; k < nb; k++) t.Emit(ByteToChar[utf8[k]], os, oe);
                    i += w;
                }
                newPieces.Add(new Piece(start, t.Emitted));
            }
        }
        t.Commit();
        pieces.Clear();
        pieces.AddRange(newPieces);
    }

    private static bool IsLetter(int cp) => UnicodeTables.Category(cp) <= UnicodeCategory.OtherLetter;

    private static bool IsNumber(int cp) => UnicodeTables.Category(cp) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    private static bool IsSpace(int cp) => cp < 0x10000 && char.IsWhiteSpace((char)cp);

    private enum Kind { Letter, Number, Space, Other }

    private static Kind Classify(ReadOnlySpan<char> s, int i, out int w)
    {
        int cp = NormalizedText.CodePointAt(s, i, out w);
        if (cp < 128)
        {
            if ((uint)((cp | 32) - 'a') < 26) return Kind.Letter;
            if ((uint)(cp - '0') < 10) return Kind.Number;
            if (cp is ' ' or (>= 9 and <= 13)) return Kind.Space;
            return Kind.Other;
        }
        if (IsLetter(cp)) return Kind.Letter;
        if (IsNumber(cp)) return Kind.Number;
        return IsSpace(cp) ? Kind.Space : Kind.Other;
    }

    /// <summary>The GPT-2 pattern's matches over <paramref name="s"/>, as (start, end) unit ranges.</summary>
    public static void Gpt2Split(ReadOnlySpan<char> s, List<(int, int)> output)
    {
        int i = 0, n = s.Length;
        while (i < n)
        {
            int start = i;
            if (s[i] == '\'' && i + 1 < n)
            {
                int len = Contraction(s, i + 1);
                if (len > 0) { i += 1 + len; output.Add((start, i)); continue; }
            }
            var k = Classify(s, i, out int w);
            int j = i;
            Kind run = k;
            if (s[i] == ' ' && i + 1 < n)
            {
                var next = Classify(s, i + 1, out _);
                if (next != Kind.Space) { run = next; j = i + 1; }
            }
            if (run != Kind.Space)
            {
                // ' ?' then a run of one class (letters, numbers, or anything else that is not a space).
                while (j < n)
                {
                    if (Classify(s, j, out int w2) != run) break;
                    j += w2;
                }
                output.Add((start, j));
                i = j;
                continue;
            }
            // Whitespace: \s+(?!\S) takes the run but leaves its last unit before a non-space; else \s+.
            while (j < n)
            {
                if (Classify(s, j, out int w2) != Kind.Space) break;
                j += w2;
            }
            if (j < n && j - i > 1)
            {
                int last = j - 1; // whitespace is always BMP
                output.Add((start, last));
                i = last;
            }
            else
            {
                output.Add((start, j));
                i = j;
            }
        }
    }

    private static int Contraction(ReadOnlySpan<char> s, int i)
    {
        char a = s[i];
        if (a is 's' or 't' or 'm' or 'd') return 1;
        if (i + 1 < s.Length)
        {
            char b = s[i + 1];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 2;
        }
        return 0;
    }
}
