using System.Globalization;
using System.Text.RegularExpressions;
using Finetune.Tokenizers.Unicode;

namespace Finetune.Tokenizers;

internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>One pre-tokenization step: splits the pieces of a normalized text (and may rewrite the text).</summary>
internal abstract class PreTokenizer
{
    [ThreadStatic] private static List<Piece>? _scratch;
    [ThreadStatic] private static List<(int Start, int End)>? _matches;

    /// <param name="pieces">in: the current pieces, in order; out: the new ones.</param>
    /// <param name="firstSegment">whether this text opens the input (Metaspace's prepend_scheme "first").</param>
    public abstract void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment);

    /// <summary>Splits every piece at the matches <paramref name="find"/> reports, treating them per <paramref name="behavior"/>.</summary>
    protected static void SplitEach(NormalizedText t, List<Piece> pieces, SplitBehavior behavior, bool invert,
        Action<ReadOnlySpan<char>, int, int, List<(int, int)>> find)
    {
        var output = _scratch ??= new List<Piece>();
        var matches = _matches ??= new List<(int, int)>();
        output.Clear();
        foreach (var p in pieces)
        {
            matches.Clear();
            find(t.Text, p.Start, p.End, matches);
            Apply(p, matches, behavior, invert, output);
        }
        pieces.Clear();
        pieces.AddRange(output);
    }

    private static void Apply(Piece p, List<(int Start, int End)> matches, SplitBehavior behavior, bool invert, List<Piece> output)
    {
        // Rebuild the piece as alternating (range, isMatch) parts, exactly covering it.
        Span<(int S, int E, bool M)> parts = matches.Count * 2 + 1 <= 256 ? stackalloc (int, int, bool)[matches.Count * 2 + 1] : new (int, int, bool)[matches.Count * 2 + 1];
        int n = 0, pos = p.Start;
        foreach (var (s, e) in matches)
        {
            if (s > pos) parts[n++] = (pos, s, invert);
            parts[n++] = (s, e, !invert);
            pos = e;
        }
        if (pos < p.End) parts[n++] = (pos, p.End, invert);
        switch (behavior)
        {
            case SplitBehavior.Removed:
                for (int i = 0; i < n; i++) if (!parts[i].M) output.Add(new Piece(parts[i].S, parts[i].E));
                break;
            case SplitBehavior.Isolated:
                for (int i = 0; i < n; i++) output.Add(new Piece(parts[i].S, parts[i].E));
                break;
            case SplitBehavior.Contiguous:
                for (int i = 0; i < n; i++)
                {
                    int s = parts[i].S, e = parts[i].E;
                    if (parts[i].M) while (i + 1 < n && parts[i + 1].M) e = parts[++i].E;
                    output.Add(new Piece(s, e));
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                {
                    int first = output.Count;
                    bool prevMatch = false;
                    for (int i = 0; i < n; i++)
                    {
                        if (parts[i].M && !prevMatch && output.Count > first) output[^1] = output[^1] with { End = parts[i].E };
                        else output.Add(new Piece(parts[i].S, parts[i].E));
                        prevMatch = parts[i].M;
                    }
                    break;
                }
            case SplitBehavior.MergedWithNext:
                {
                    int first = output.Count;
                    bool prevMatch = false;
                    for (int i = n - 1; i >= 0; i--)
                    {
                        if (parts[i].M && !prevMatch && output.Count > first) output[^1] = output[^1] with { Start = parts[i].S };
                        else output.Add(new Piece(parts[i].S, parts[i].E));
                        prevMatch = parts[i].M;
                    }
                    output.Reverse(first, output.Count - first);
                    break;
                }
        }
    }

    /// <summary>Each code point matching <paramref name="pred"/> is one match.</summary>
    protected static Action<ReadOnlySpan<char>, int, int, List<(int, int)>> EachChar(Func<int, bool> pred) => (text, from, to, m) =>
    {
        for (int i = from; i < to;)
        {
            int cp = NormalizedText.CodePointAt(text, i, out int w);
            if (pred(cp)) m.Add((i, i + w));
            i += w;
        }
    };

    public static bool IsPunctuation(int cp)
    {
        if (cp < 128) return cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126;
        return UnicodeTables.Category(cp) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    public static bool IsWhitespace(int cp) => cp < 0x10000 && char.IsWhiteSpace((char)cp);
}

internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> steps) : PreTokenizer
{
    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment)
    {
        foreach (var s in steps) s.PreTokenize(t, pieces, firstSegment);
    }
}

/// <summary>BertPreTokenizer: whitespace removed, each punctuation character isolated.</summary>
internal sealed class BertPreTokenizer : PreTokenizer
{
    [ThreadStatic] private static List<Piece>? _output;

    /// <summary>Whether <paramref name="cp"/> ends a word: whitespace (dropped) or punctuation (a piece of its own).</summary>
    public static bool IsSplit(int cp, out bool whitespace)
    {
        whitespace = cp == ' ' || IsWhitespace(cp);
        return whitespace || IsPunctuation(cp);
    }

    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment)
    {
        var text = t.Text;
        var output = _output ??= new List<Piece>();
        output.Clear();
        foreach (var p in pieces)
        {
            int wordStart = -1;
            for (int i = p.Start; i < p.End;)
            {
                int cp = NormalizedText.CodePointAt(text, i, out int w);
                if (IsSplit(cp, out bool space))
                {
                    if (wordStart >= 0) output.Add(new Piece(wordStart, i));
                    wordStart = -1;
                    if (!space) output.Add(new Piece(i, i + w));
                }
                else if (wordStart < 0) wordStart = i;
                i += w;
            }
            if (wordStart >= 0) output.Add(new Piece(wordStart, p.End));
        }
        pieces.Clear();
        pieces.AddRange(output);
    }
}

internal sealed class WhitespaceSplitPreTokenizer : PreTokenizer
{
    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment) =>
        SplitEach(t, pieces, SplitBehavior.Removed, false, EachChar(IsWhitespace));
}

/// <summary>Whitespace: the regex \w+|[^\w\s]+ ; everything else (whitespace) is dropped.</summary>
internal sealed class WhitespacePreTokenizer : PreTokenizer
{
    private static readonly Regex Words = new(@"\w+|[^\w\s]+", RegexOptions.Compiled);

    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment) =>
        SplitEach(t, pieces, SplitBehavior.Removed, true, RegexFinder(Words));

    public static Action<ReadOnlySpan<char>, int, int, List<(int, int)>> RegexFinder(Regex regex) => (text, from, to, m) =>
    {
        foreach (var match in regex.EnumerateMatches(text[from..to]))
        {
            if (match.Length > 0) m.Add((from + match.Index, from + match.Index + match.Length));
        }
    };
}

internal sealed class PunctuationPreTokenizer(SplitBehavior behavior) : PreTokenizer
{
    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment) =>
        SplitEach(t, pieces, behavior, false, EachChar(IsPunctuation));
}

internal sealed class DigitsPreTokenizer(bool individual) : PreTokenizer
{
    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment) =>
        SplitEach(t, pieces, individual ? SplitBehavior.Isolated : SplitBehavior.Contiguous, false,
            EachChar(cp => UnicodeTables.Category(cp) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber));
}

/// <summary>Split: a literal string or regex pattern with a split behavior, optionally inverted.</summary>
internal sealed class SplitPreTokenizer(Regex pattern, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment) =>
        SplitEach(t, pieces, behavior, invert, WhitespacePreTokenizer.RegexFinder(pattern));
}

/// <summary>Metaspace: spaces become ▁, a ▁ is prepended per the scheme, and pieces split before each ▁.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, string prependScheme, bool split) : PreTokenizer
{
    public override void PreTokenize(NormalizedText t, List<Piece> pieces, bool firstSegment)
    {
        var newPieces = new List<Piece>(pieces.Count);
        t.Begin();
        foreach (var p in pieces)
        {
            int start = t.Emitted;
            bool prepend = prependScheme == "always" || (prependScheme == "first" && firstSegment && p.Start == 0);
            if (prepend && p.End > p.Start && t.Text[p.Start] != replacement && t.Text[p.Start] != ' ')
                t.Emit(replacement, t.OrigStart(p.Start), t.OrigStart(p.Start));
            for (int i = p.Start; i < p.End; i++) t.Emit(t.Text[i] == ' ' ? replacement : t.Text[i], t.OrigStart(i), t.OrigEnd(i));
            newPieces.Add(new Piece(start, t.Emitted));
        }
        t.Commit();
        pieces.Clear();
        pieces.AddRange(newPieces);
        if (split)
        {
            char r = replacement;
            SplitEach(t, pieces, SplitBehavior.MergedWithNext, false, EachChar(cp => cp == r));
        }
    }
}
