using System.Globalization;
using System.Text.RegularExpressions;
using Finetune.Tokenizers.Unicode;

namespace Finetune.Tokenizers;

/// <summary>One normalization step of the pipeline, as the Rust tokenizers library defines them.</summary>
internal abstract class Normalizer
{
    public abstract void Normalize(NormalizedText t);

    /// <summary>Rewrites every code point through <paramref name="map"/>, which emits zero or more code points.</summary>
    protected static void MapCodePoints(NormalizedText t, Action<NormalizedText, int, int, int> map)
    {
        t.Begin();
        for (int i = 0; i < t.Length;)
        {
            int cp = t.CodePointAt(i, out int w);
            map(t, cp, t.OrigStart(i), t.OrigEnd(i + w - 1));
            i += w;
        }
        t.Commit();
    }
}

internal sealed class SequenceNormalizer(IReadOnlyList<Normalizer> steps) : Normalizer
{
    public override void Normalize(NormalizedText t)
    {
        foreach (var s in steps) s.Normalize(t);
    }
}

internal sealed class LowercaseNormalizer : Normalizer
{
    public override void Normalize(NormalizedText t) => Lower(t);

    /// <summary>Full, context-free lower-casing (Rust char::to_lowercase).</summary>
    public static void Lower(NormalizedText t)
    {
        bool any = false;
        foreach (char c in t.Text)
        {
            if (c >= 'A') { any = true; break; }
        }
        if (!any) return;
        t.Begin();
        for (int i = 0; i < t.Length;)
        {
            int cp = t.CodePointAt(i, out int w);
            int s = t.OrigStart(i), e = t.OrigEnd(i + w - 1);
            if (cp <= 'Z') t.Emit(cp >= 'A' ? (char)(cp + 32) : (char)cp, s, e);
            else if (cp < 128) t.Emit((char)cp, s, e);
            else if (UnicodeTables.Lower(cp) is { } m) foreach (int x in m) t.EmitCodePoint(x, s, e);
            else t.EmitCodePoint(cp, s, e);
            i += w;
        }
        t.Commit();
    }
}

internal enum NormalForm { Nfc, Nfd, Nfkc, Nfkd }

internal sealed class UnicodeNormalizer(NormalForm form) : Normalizer
{
    public override void Normalize(NormalizedText t) => Apply(t, form);

    [ThreadStatic] private static List<int>? _cps;
    [ThreadStatic] private static List<int>? _starts;
    [ThreadStatic] private static List<int>? _ends;
    [ThreadStatic] private static List<int>? _tmp;

    /// <summary>Unicode normalization (decompose, canonical reordering, optional composition), keeping alignments.</summary>
    public static void Apply(NormalizedText t, NormalForm form)
    {
        bool compat = form is NormalForm.Nfkc or NormalForm.Nfkd;
        bool compose = form is NormalForm.Nfc or NormalForm.Nfkc;
        bool ascii = true;
        foreach (char c in t.Text)
        {
            if (c >= 0xA0) { ascii = false; break; }
        }
        if (ascii) return;
        var cps = _cps ??= new List<int>();
        var starts = _starts ??= new List<int>();
        var ends = _ends ??= new List<int>();
        var tmp = _tmp ??= new List<int>();
        cps.Clear(); starts.Clear(); ends.Clear();
        for (int i = 0; i < t.Length;)
        {
            int cp = t.CodePointAt(i, out int w);
            tmp.Clear();
            UnicodeTables.Decompose(cp, compat, tmp);
            foreach (int d in tmp)
            {
                cps.Add(d);
                starts.Add(t.OrigStart(i));
                ends.Add(t.OrigEnd(i + w - 1));
            }
            i += w;
        }
        Reorder(cps, starts, ends);
        int n = compose ? Compose(cps, starts, ends) : cps.Count;
        t.Begin();
        for (int i = 0; i < n; i++) t.EmitCodePoint(cps[i], starts[i], ends[i]);
        t.Commit();
    }

    // Canonical ordering: stable insertion sort of each run of non-starters by combining class.
    private static void Reorder(List<int> cps, List<int> s, List<int> e)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int cc = UnicodeTables.Ccc(cps[i]);
            if (cc == 0) continue;
            int j = i;
            while (j > 0 && UnicodeTables.Ccc(cps[j - 1]) > cc)
            {
                (cps[j], cps[j - 1]) = (cps[j - 1], cps[j]);
                (s[j], s[j - 1]) = (s[j - 1], s[j]);
                (e[j], e[j - 1]) = (e[j - 1], e[j]);
                j--;
            }
        }
    }

    // Canonical composition (UAX #15): a character joins the last starter unless a character in between blocks it.
    private static int Compose(List<int> cps, List<int> s, List<int> e)
    {
        if (cps.Count == 0) return 0;
        int starter = 0, w = 1;
        int lastClass = UnicodeTables.Ccc(cps[0]) == 0 ? 0 : 256;
        for (int i = 1; i < cps.Count; i++)
        {
            int cp = cps[i], cc = UnicodeTables.Ccc(cp);
            int composite = UnicodeTables.Compose(cps[starter], cp);
            if (composite >= 0 && (lastClass < cc || lastClass == 0))
            {
                cps[starter] = composite;
                s[starter] = Math.Min(s[starter], s[i]);
                e[starter] = Math.Max(e[starter], e[i]);
                continue;
            }
            if (cc == 0) starter = w;
            lastClass = cc;
            cps[w] = cp; s[w] = s[i]; e[w] = e[i];
            w++;
        }
        return w;
    }
}

internal sealed class StripAccentsNormalizer : Normalizer
{
    public override void Normalize(NormalizedText t) => Strip(t);

    /// <summary>Drops non-spacing marks (Mn); expects decomposed text, as Rust's StripAccents does.</summary>
    public static void Strip(NormalizedText t)
    {
        bool any = false;
        foreach (char c in t.Text)
        {
            if (c >= 0x300) { any = true; break; }
        }
        if (!any) return;
        MapCodePoints(t, static (n, cp, s, e) =>
        {
            if (!UnicodeTables.IsMark(cp)) n.EmitCodePoint(cp, s, e);
        });
    }
}

internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override void Normalize(NormalizedText t)
    {
        int from = 0, to = t.Length;
        if (left) while (from < to && char.IsWhiteSpace(t.Text[from])) from++;
        if (right) while (to > from && char.IsWhiteSpace(t.Text[to - 1])) to--;
        if (from == 0 && to == t.Length) return;
        t.Begin();
        t.EmitRange(from, to);
        t.Commit();
    }
}

internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override void Normalize(NormalizedText t)
    {
        if (t.Length == 0) return;
        int s = t.OrigStart(0);
        t.Begin();
        foreach (char c in prefix) t.Emit(c, s, s);
        t.EmitRange(0, t.Length);
        t.Commit();
    }
}

/// <summary>Replace: every match of a literal string or regex becomes <c>content</c>.</summary>
internal sealed class ReplaceNormalizer(Regex pattern, string content) : Normalizer
{
    public override void Normalize(NormalizedText t)
    {
        if (t.Length == 0) return;
        string text = t.ToString();
        var m = pattern.Match(text);
        if (!m.Success) return;
        t.Begin();
        int pos = 0;
        for (; m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            t.EmitRange(pos, m.Index);
            int s = t.OrigStart(m.Index), e = t.OrigEnd(m.Index + m.Length - 1);
            foreach (char c in content) t.Emit(c, s, e);
            pos = m.Index + m.Length;
        }
        t.EmitRange(pos, t.Length);
        t.Commit();
    }
}

/// <summary>BertNormalizer, in the Rust library's order: clean text, pad CJK, strip accents (NFD, drop Mn), lowercase.</summary>
internal sealed class BertNormalizer(bool cleanText, bool handleChinese, bool stripAccents, bool lowercase) : Normalizer
{
    public override void Normalize(NormalizedText t)
    {
        if (cleanText || handleChinese)
        {
            t.Begin();
            for (int i = 0; i < t.Length;)
            {
                int cp = t.CodePointAt(i, out int w);
                int s = t.OrigStart(i), e = t.OrigEnd(i + w - 1);
                i += w;
                if (cleanText)
                {
                    if (cp == 0 || cp == 0xFFFD || IsControl(cp)) continue;
                    if (IsWhitespace(cp)) { t.Emit(' ', s, e); continue; }
                }
                if (handleChinese && IsChinese(cp))
                {
                    t.Emit(' ', s, e);
                    t.EmitCodePoint(cp, s, e);
                    t.Emit(' ', s, e);
                }
                else t.EmitCodePoint(cp, s, e);
            }
            t.Commit();
        }
        if (stripAccents)
        {
            UnicodeNormalizer.Apply(t, NormalForm.Nfd);
            StripAccentsNormalizer.Strip(t);
        }
        if (lowercase) LowercaseNormalizer.Lower(t);
    }

    public static bool IsWhitespace(int cp) => cp is '\t' or '\n' or '\r' || IsUnicodeWhitespace(cp);

    public static bool IsUnicodeWhitespace(int cp) => cp < 0x10000 && char.IsWhiteSpace((char)cp);

    public static bool IsControl(int cp)
    {
        if (cp is '\t' or '\n' or '\r') return false;
        return UnicodeTables.Category(cp) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
    }

    public static bool IsChinese(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
