using System.Globalization;
using Finetune.Tokenizers.Unicode;

namespace Finetune.Tokenizers;

/// <summary>
/// The Rust library's Precompiled normalizer: each grapheme shorter than 6 UTF-8 bytes is replaced by the FIRST
/// (shortest) rule of the charsmap that prefixes it, if any; otherwise each of its characters is looked up alone.
/// </summary>
internal sealed class PrecompiledNormalizer(PrecompiledCharsMap map) : Normalizer
{
    public PrecompiledCharsMap Map { get; } = map;

    public override void Normalize(NormalizedText t)
    {
        if (t.Length == 0) return;
        string text = t.ToString();
        Span<byte> bytes = stackalloc byte[64];
        Span<(int, int)> results = stackalloc (int, int)[32];
        t.Begin();
        int i = 0;
        while (i < text.Length)
        {
            int g = StringInfo.GetNextTextElementLength(text, i);
            if (g <= 0) g = 1;
            int nb = System.Text.Encoding.UTF8.GetByteCount(text.AsSpan(i, g));
            if (nb < 6)
            {
                System.Text.Encoding.UTF8.GetBytes(text.AsSpan(i, g), bytes);
                if (Map.CommonPrefixSearch(bytes[..nb], results) > 0)
                {
                    Emit(t, Map.Replacement(results[0].Item2), t.OrigStart(i), t.OrigEnd(i + g - 1));
                    i += g;
                    continue;
                }
            }
            for (int k = i; k < i + g;)
            {
                int cp = NormalizedText.CodePointAt(text, k, out int w);
                int n = NormalizedText.Utf8(cp, bytes);
                if (Map.CommonPrefixSearch(bytes[..n], results) > 0) Emit(t, Map.Replacement(results[0].Item2), t.OrigStart(k), t.OrigEnd(k + w - 1));
                else for (int q = k; q < k + w; q++) t.Emit(text[q], t.OrigStart(q), t.OrigEnd(q));
                k += w;
            }
            i += g;
        }
        t.Commit();
    }

    private static void Emit(NormalizedText t, string s, int start, int end)
    {
        foreach (char c in s) t.Emit(c, start, end);
    }
}

/// <summary>
/// SentencePiece's own normalizer (what sp.encode does, used by the slow tokenizers): longest charsmap rule at
/// each position, leading/trailing/repeated spaces removed, a dummy-prefix space, spaces escaped as ▁.
/// </summary>
internal sealed class SentencePieceNormalizer(PrecompiledCharsMap? map, bool addDummyPrefix, bool removeExtraWhitespaces, bool escapeWhitespaces) : Normalizer
{
    private const char Space = '\u2581';

    public override void Normalize(NormalizedText t)
    {
        string text = t.ToString();
        int i = 0;
        if (removeExtraWhitespaces)
        {
            while (i < text.Length)
            {
                var (len, rep) = Prefix(text, i);
                if (rep != " ") break;
                i += len;
            }
        }
        t.Begin();
        if (i == text.Length) { t.Commit(); return; }
        char ws = escapeWhitespaces ? Space : ' ';
        if (addDummyPrefix) t.Emit(ws, t.OrigStart(i), t.OrigStart(i));
        bool prevSpace = removeExtraWhitespaces;
        while (i < text.Length)
        {
            var (len, rep) = Prefix(text, i);
            int s = t.OrigStart(i), e = t.OrigEnd(i + len - 1);
            int from = 0;
            while (prevSpace && from < rep.Length && rep[from] == ' ') from++;
            if (from < rep.Length)
            {
                for (int k = from; k < rep.Length; k++) t.Emit(rep[k] == ' ' && escapeWhitespaces ? Space : rep[k], s, e);
                prevSpace = rep[^1] == ' ';
            }
            i += len;
            if (!removeExtraWhitespaces) prevSpace = false;
        }
        int end = t.Emitted;
        t.Commit();
        if (removeExtraWhitespaces)
        {
            int keep = end;
            while (keep > 0 && t.Text[keep - 1] == ws) keep--;
            if (keep < end)
            {
                t.Begin();
                t.EmitRange(0, keep);
                t.Commit();
            }
        }
    }

    private (int Units, string Replacement) Prefix(string text, int i)
    {
        if (map != null)
        {
            var (units, rep) = map.LongestMatch(text, i);
            if (units > 0) return (units, rep!);
        }
        NormalizedText.CodePointAt(text, i, out int w);
        if (w == 1 && char.IsSurrogate(text[i])) return (1, "\uFFFD");
        return (w, text.Substring(i, w));
    }
}

/// <summary>
/// The slow AlbertTokenizer's preprocessing before SentencePiece: per-character lower-casing of the input
/// (PreTrainedTokenizer.tokenize with do_lower_case), remove_space (" ".join(text.strip().split())), `` and ''
/// → ", NFKD with combining characters dropped (keep_accents false), then lower() again.
/// </summary>
internal sealed class AlbertPreprocessNormalizer(bool lowercase, bool removeSpace, bool keepAccents) : Normalizer
{
    public override void Normalize(NormalizedText t)
    {
        if (lowercase) PythonLower(t);
        if (removeSpace) CollapsePythonSpaces(t);
        ReplaceQuotes(t);
        if (!keepAccents)
        {
            UnicodeNormalizer.Apply(t, NormalForm.Nfkd);
            MapCodePoints(t, static (n, cp, s, e) =>
            {
                if (UnicodeTables.Ccc(cp) == 0) n.EmitCodePoint(cp, s, e);
            });
        }
        if (lowercase) PythonLower(t);
    }

    // Python's per-character str.lower (no final-sigma context: the slow tokenizer lowers one character at a time).
    private static void PythonLower(NormalizedText t) => LowercaseNormalizer.Lower(t);

    private static void CollapsePythonSpaces(NormalizedText t)
    {
        t.Begin();
        bool pendingSpace = false;
        int spaceStart = 0, spaceEnd = 0;
        for (int i = 0; i < t.Length;)
        {
            int cp = t.CodePointAt(i, out int w);
            if (UnicodeTables.IsPythonSpace(cp))
            {
                if (!pendingSpace) spaceStart = t.OrigStart(i);
                spaceEnd = t.OrigEnd(i);
                pendingSpace = true;
            }
            else
            {
                if (pendingSpace && t.Emitted > 0) t.Emit(' ', spaceStart, spaceEnd);
                pendingSpace = false;
                t.EmitRange(i, i + w);
            }
            i += w;
        }
        t.Commit();
    }

    private static void ReplaceQuotes(NormalizedText t)
    {
        var text = t.Text;
        if (text.IndexOf("``") < 0 && text.IndexOf("''") < 0) return;
        // Python replaces all `` first, then all '' (each left to right, non-overlapping).
        ReplacePair(t, '`');
        ReplacePair(t, '\'');
    }

    private static void ReplacePair(NormalizedText t, char q)
    {
        t.Begin();
        for (int i = 0; i < t.Length; i++)
        {
            if (t.Text[i] == q && i + 1 < t.Length && t.Text[i + 1] == q)
            {
                t.Emit('"', t.OrigStart(i), t.OrigEnd(i + 1));
                i++;
            }
            else t.Emit(t.Text[i], t.OrigStart(i), t.OrigEnd(i));
        }
        t.Commit();
    }
}
