using System.Runtime.InteropServices;
using System.Text;

namespace Finetune.Tokenizers;

/// <summary>
/// A shortcut through normalizer → pre-tokenizer → model for the common pipelines (BERT's WordPiece, GPT-2/RoBERTa's
/// byte-level BPE): the text is walked once, without a <see cref="NormalizedText"/> and its alignment arrays, where
/// the alignment is known without them (ASCII under BERT's normalizer: one unit for one; no normalizer: each byte to
/// its code point). What a shortcut does not handle goes through the general pipeline; the tests hold both to the
/// same encodings.
/// </summary>
internal abstract class FastPath
{
    [ThreadStatic] private static List<RawToken>? _raw;
    [ThreadStatic] private static char[]? _scratch;

    /// <summary>
    /// Appends the tokens of units [from, to) of <paramref name="text"/> (a segment between raw added tokens), numbering
    /// words from <paramref name="word"/>; false, having appended nothing, when this segment needs the general path.
    /// </summary>
    public abstract bool TryEncode(TokenizerPipeline p, string text, int from, int to, ref int word, List<SeqToken> output);

    /// <summary>
    /// Appends the ids alone of units [from, to) (what tokenizer.encode keeps: no offsets, words or token strings); false,
    /// having appended nothing, when this path has no ids-only form and the caller goes through <see cref="TryEncode"/>.
    /// </summary>
    public virtual bool TryEncodeIds(TokenizerPipeline p, string text, int from, int to, List<int> ids) => false;

    /// <summary>The fast path for <paramref name="p"/>'s kind of pipeline, or null when it has none.</summary>
    public static FastPath? For(TokenizerPipeline p)
    {
        if (!p.NoNormalizedAddedTokens) return null;
        return (FastPath?)BertAsciiPath.Create(p) ?? ByteLevelFastPath.Create(p);
    }

    protected static List<RawToken> Raw() => _raw ??= new List<RawToken>();

    /// <summary>A per-thread buffer of at least <paramref name="n"/> chars; a fresh one, not kept, for very long texts.</summary>
    protected static char[] Scratch(int n)
    {
        if (n > 1 << 16) return new char[n];
        return _scratch is { } s && s.Length >= n ? s : _scratch = new char[Math.Max(n, 1024)];
    }

    /// <summary>Tokenizes <paramref name="buf"/>[start, end) as one word whose unit k is unit from + k of the input.</summary>
    protected static int Emit(TokenizerModel model, char[] buf, int start, int end, int from, int word, List<RawToken> raw, List<SeqToken> output)
    {
        raw.Clear();
        model.Tokenize(buf.AsSpan(start, end - start), raw);
        int at = from + start;
        foreach (var r in raw) output.Add(new SeqToken(r.Id, at + r.Start, at + r.End, word));
        return word + 1;
    }
}

/// <summary>
/// BertNormalizer (or none) → BertPreTokenizer → WordPiece. What each ASCII character becomes is found once by running
/// the pipeline's own normalizer and pre-tokenizer rules on it (BertNormalizer treats every code point on its own,
/// and an ASCII character is a starter that Unicode normalization never reorders across). Text is split at ASCII
/// whitespace; a stretch between two such spaces holding anything else (non-ASCII, or a character the normalizer
/// drops) goes through the general pipeline alone, which splits there too.
/// </summary>
internal sealed class BertAsciiPath : FastPath
{
    private const byte Word = 0, Space = 1, Punctuation = 2, General = 3;

    private readonly byte[] _kind = new byte[128];
    private readonly char[] _map = new char[128];
    private readonly WordPieceModel _model;

    private BertAsciiPath(WordPieceModel model) => _model = model;

    public static BertAsciiPath? Create(TokenizerPipeline p)
    {
        if (p.Model is not WordPieceModel wordPiece || p.PreTokenizer is not BertPreTokenizer || p.Normalizer is not (null or BertNormalizer)) return null;
        var path = new BertAsciiPath(wordPiece);
        var t = new NormalizedText();
        for (int c = 0; c < 128; c++)
        {
            t.Reset([(char)c], 0, 1);
            p.Normalizer?.Normalize(t);
            if (t.Length == 0) { path._kind[c] = General; continue; }
            // Anything but one ASCII unit aligned to the character itself: this normalizer is not for the shortcut.
            if (t.Length != 1 || t.Text[0] >= 128 || t.OrigStart(0) != 0 || t.OrigEnd(0) != 1) return null;
            char m = t.Text[0];
            path._map[c] = m;
            path._kind[c] = !BertPreTokenizer.IsSplit(m, out bool whitespace) ? Word : whitespace ? Space : Punctuation;
        }
        return path;
    }

    public override bool TryEncode(TokenizerPipeline p, string text, int from, int to, ref int word, List<SeqToken> output)
    {
        var s = text.AsSpan(from, to - from);
        var kind = _kind;
        var map = _map;
        var raw = Raw();
        char[] buf = Scratch(s.Length);
        int n = s.Length, i = 0;
        while (i < n)
        {
            char c = s[i];
            if (c < 128 && kind[c] == Space) { i++; continue; }
            // The stretch up to the next ASCII space, and whether every character in it is ASCII the shortcut knows.
            int j = i;
            bool simple = true;
            for (; j < n; j++)
            {
                char d = s[j];
                if (d >= 128) simple = false;
                else if (kind[d] == Space) break;
                else if (kind[d] == General) simple = false;
            }
            if (!simple)
            {
                word = p.EncodeNormalizedRun(text, from + i, from + j, word, output);
                i = j;
                continue;
            }
            int w = i;
            for (int q = i; q < j; q++)
            {
                char d = s[q];
                buf[q] = map[d];
                if (kind[d] == Punctuation)
                {
                    if (q > w) word = Emit(_model, buf, w, q, from, word, raw, output);
                    word = Emit(_model, buf, q, q + 1, from, word, raw, output);
                    w = q + 1;
                }
            }
            if (w < j) word = Emit(_model, buf, w, j, from, word, raw, output);
            i = j;
        }
        return true;
    }

    /// <summary>
    /// <see cref="TryEncode"/>'s ids in one pass per stretch: each character is mapped and hashed as it is read, and a
    /// word that is a vocabulary entry as a whole (most words) costs one look-up with that hash. A character the
    /// shortcut does not handle takes back the stretch's ids so far and sends the whole stretch through the general
    /// pipeline, as <see cref="TryEncode"/> does.
    /// </summary>
    public override bool TryEncodeIds(TokenizerPipeline p, string text, int from, int to, List<int> ids)
    {
        var s = text.AsSpan(from, to - from);
        var kind = _kind;
        var map = _map;
        char[] buf = Scratch(s.Length);
        int n = s.Length, i = 0;
        while (i < n)
        {
            char c = s[i];
            if (c < 128 && kind[c] == Space) { i++; continue; }
            int mark = ids.Count, w = i, j = i;
            uint hash = 0;
            bool simple = true;
            for (; j < n; j++)
            {
                char d = s[j];
                byte k = d < 128 ? kind[d] : General;
                if (k == Word)
                {
                    char m = map[d];
                    buf[j] = m;
                    hash = SpanVocab.Extend(hash, m);
                }
                else if (k == Punctuation)
                {
                    if (j > w) AppendWord(buf, w, j, hash, ids);
                    char m = map[d];
                    buf[j] = m;
                    AppendWord(buf, j, j + 1, SpanVocab.Extend(0, m), ids);
                    w = j + 1;
                    hash = 0;
                }
                else if (k == Space) break;
                else
                {
                    simple = false;
                    break;
                }
            }
            if (!simple)
            {
                while (j < n && !(s[j] < 128 && kind[s[j]] == Space)) j++;
                CollectionsMarshal.SetCount(ids, mark);
                p.EncodeNormalizedRunIds(text, from + i, from + j, ids);
            }
            else if (w < j) AppendWord(buf, w, j, hash, ids);
            i = j;
        }
        return true;
    }

    private void AppendWord(char[] buf, int start, int end, uint hash, List<int> ids)
    {
        var word = buf.AsSpan(start, end - start);
        int id = _model.FindWholeWord(word, hash);
        if (id >= 0)
        {
            ids.Add(id);
            return;
        }
        var raw = Raw();
        raw.Clear();
        _model.Tokenize(word, raw);
        foreach (var r in raw) ids.Add(r.Id);
    }
}

/// <summary>
/// No normalizer → ByteLevel (GPT-2 regex, no prefix space) → BPE: the GPT-2 split of the input, each split's UTF-8
/// bytes mapped to byte-level characters in a buffer, with each byte remembering the code point it came from (for
/// ASCII, the character itself), which is what the general pipeline's alignment arrays would say.
/// </summary>
internal sealed class ByteLevelFastPath : FastPath
{
    [ThreadStatic] private static List<(int, int)>? _splits;
    [ThreadStatic] private static int[]? _unitStart, _unitEnd;

    private readonly TokenizerModel _model;

    private ByteLevelFastPath(TokenizerModel model) => _model = model;

    public static ByteLevelFastPath? Create(TokenizerPipeline p) =>
        p.Normalizer == null && p.PreTokenizer is ByteLevelPreTokenizer { AddPrefixSpace: false, UseRegex: true } && p.Model is BpeModel ? new(p.Model) : null;

    public override bool TryEncode(TokenizerPipeline p, string text, int from, int to, ref int word, List<SeqToken> output)
    {
        var s = text.AsSpan(from, to - from);
        var splits = _splits ??= new List<(int, int)>();
        splits.Clear();
        ByteLevelPreTokenizer.Gpt2Split(s, splits);
        var table = ByteLevelPreTokenizer.ByteToChar;
        var raw = Raw();
        if (Ascii.IsValid(s))
        {
            char[] buf = Scratch(s.Length);
            for (int q = 0; q < s.Length; q++) buf[q] = table[s[q]];
            foreach (var (a, b) in splits) word = Emit(_model, buf, a, b, from, word, raw, output);
            return true;
        }
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var (a, b) in splits)
        {
            // A unit is at most 3 bytes; a split may end inside a surrogate pair, read whole as the general path does.
            int cap = 3 * (b - a) + 4;
            char[] buf = Scratch(cap);
            int[] unitStart = Units(ref _unitStart, cap), unitEnd = Units(ref _unitEnd, cap);
            int m = 0;
            for (int q = a; q < b;)
            {
                int cp = NormalizedText.CodePointAt(s, q, out int w);
                int nb = NormalizedText.Utf8(cp, utf8);
                for (int k = 0; k < nb; k++) { buf[m] = table[utf8[k]]; unitStart[m] = q; unitEnd[m] = q + w; m++; }
                q += w;
            }
            raw.Clear();
            _model.Tokenize(buf.AsSpan(0, m), raw);
            foreach (var r in raw)
            {
                int start = from + unitStart[r.Start];
                output.Add(new SeqToken(r.Id, start, Math.Max(start, from + unitEnd[r.End - 1]), word));
            }
            word++;
        }
        return true;
    }

    private static int[] Units(ref int[]? kept, int n)
    {
        if (n > 1 << 16) return new int[n];
        return kept is { } k && k.Length >= n ? k : kept = new int[Math.Max(n, 1024)];
    }
}
