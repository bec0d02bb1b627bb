using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Finetune.Tokenizers;

/// <summary>A token of one sequence before special tokens are added.</summary>
internal record struct SeqToken(int Id, int Start, int End, int Word);

/// <summary>
/// The Rust library's pipeline: added tokens split off the raw text, then per remaining segment normalizer →
/// pre-tokenizer → model; then truncation, post-processing (special tokens) and padding.
/// </summary>
internal sealed class TokenizerPipeline
{
    public required TokenizerModel Model { get; init; }
    public Normalizer? Normalizer { get; init; }
    public PreTokenizer? PreTokenizer { get; init; }
    public TemplatePostProcessor? PostProcessor { get; init; }
    public Decoder? Decoder { get; init; }

    /// <summary>Byte-level offsets trimming (trim_offsets): a token's leading/trailing Ġ (space) is left out of its offsets.</summary>
    public bool TrimOffsets { get; init; }
    public AddedVocabulary Added
    {
        get => _added;
        init
        {
            _added = value;
            foreach (var t in value.Tokens)
            {
                _addedById.TryAdd(t.Id, t.Content);
                _addedByContent.TryAdd(t.Content, t.Id);
            }
            _rawAdded = new AddedVocabulary(value.Tokens.Where(t => !t.Normalized));
            _normalizedAdded = new Lazy<AddedVocabulary>(() => new AddedVocabulary(value.Tokens.Where(t => t.Normalized).Select(NormalizeContent)));
        }
    }

    // Added tokens with normalized=false are found in the raw text; the others in the normalized text, by their
    // normalized content (the Rust AddedVocabulary's two passes).
    private AddedToken NormalizeContent(AddedToken t)
    {
        if (Normalizer == null) return t;
        var n = new NormalizedText();
        n.Reset(t.Content, 0, t.Content.Length);
        Normalizer.Normalize(n);
        return t with { Content = n.ToString() };
    }

    private readonly AddedVocabulary _added = new([]);
    private AddedVocabulary _rawAdded = new([]);
    private Lazy<AddedVocabulary> _normalizedAdded = new(() => new AddedVocabulary([]));
    private readonly Dictionary<int, string> _addedById = new();
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);

    [ThreadStatic] private static NormalizedText? _text;
    [ThreadStatic] private static NormalizedText? _sub;
    [ThreadStatic] private static List<(int, int, AddedToken)>? _normMatches;
    [ThreadStatic] private static List<Piece>? _pieces;
    [ThreadStatic] private static List<RawToken>? _raw;
    [ThreadStatic] private static List<(int, int, AddedToken)>? _matches;

    public string? IdToToken(int id) => _addedById.Count > 0 && _addedById.TryGetValue(id, out var s) ? s : Model.IdToToken(id);

    public int? TokenToId(string token) => _addedByContent.TryGetValue(token, out int id) ? id : Model.TokenToId(token);

    /// <summary>Tokenizes one text without special tokens.</summary>
    public void EncodeSequence(string text, List<SeqToken> output)
    {
        var matches = _matches ??= new List<(int, int, AddedToken)>();
        matches.Clear();
        _rawAdded.Find(text, matches);
        int pos = 0, word = 0;
        bool first = true;
        foreach (var (s, e, token) in matches)
        {
            if (s > pos) { word = EncodeSegment(text, pos, s, first, word, output); first = false; }
            output.Add(new SeqToken(token.Id, s, e, word++));
            first = false;
            pos = e;
        }
        if (pos < text.Length || text.Length == 0) EncodeSegment(text, pos, text.Length, first, word, output);
    }

    /// <summary>
    /// tokenizer.encode: the ids of one text, with the single-sequence special tokens when <paramref name="addSpecial"/>,
    /// appended to <paramref name="ids"/>; the same ids as <see cref="EncodeSequence"/> and <see cref="Build"/> give.
    /// </summary>
    public void EncodeIds(string text, bool addSpecial, List<int> ids)
    {
        IReadOnlyList<TemplateItem> template = addSpecial && PostProcessor != null ? PostProcessor.Single : PlainSingle;
        for (int i = 0; i < template.Count; i++)
        {
            var item = template[i];
            if (item.Special != null) ids.AddRange(PostProcessor!.Specials[item.Special].Ids);
            else EncodeSequenceIds(text, ids);
        }
    }

    private void EncodeSequenceIds(string text, List<int> ids)
    {
        var matches = _matches ??= new List<(int, int, AddedToken)>();
        matches.Clear();
        _rawAdded.Find(text, matches);
        int pos = 0;
        bool first = true;
        foreach (var (s, e, token) in matches)
        {
            if (s > pos) EncodeSegmentIds(text, pos, s, first, ids);
            ids.Add(token.Id);
            first = false;
            pos = e;
        }
        if (pos < text.Length || text.Length == 0) EncodeSegmentIds(text, pos, text.Length, first, ids);
    }

    [ThreadStatic] private static List<int>? _ids;
    [ThreadStatic] private static List<SeqToken>? _idTokens;

    /// <summary><see cref="EncodeIds(string, bool, List{int})"/> into a per-thread list: valid until this thread's next call.</summary>
    public ReadOnlySpan<int> EncodeIds(string text, bool addSpecial)
    {
        var ids = Reused(ref _ids);
        EncodeIds(text, addSpecial, ids);
        return CollectionsMarshal.AsSpan(ids);
    }

    private static List<T> Reused<T>(ref List<T>? slot)
    {
        var list = slot ??= new List<T>(256);
        if (list.Capacity > 1 << 16) slot = list = new List<T>(256); // a huge text must not pin it on this thread for good
        list.Clear();
        return list;
    }

    private void EncodeSegmentIds(string text, int from, int to, bool firstSegment, List<int> ids)
    {
        if (ChosenFastPath() is { } fast && fast.TryEncodeIds(this, text, from, to, ids)) return;
        var tokens = Reused(ref _idTokens);
        EncodeSegment(text, from, to, firstSegment, 0, tokens);
        AppendIds(tokens, ids);
    }

    /// <summary><see cref="EncodeNormalizedRun"/>'s ids alone, appended to <paramref name="ids"/>.</summary>
    internal void EncodeNormalizedRunIds(string text, int from, int to, List<int> ids)
    {
        var tokens = Reused(ref _idTokens);
        EncodeNormalizedRun(text, from, to, 0, tokens);
        AppendIds(tokens, ids);
    }

    private static void AppendIds(List<SeqToken> tokens, List<int> ids)
    {
        foreach (var t in CollectionsMarshal.AsSpan(tokens)) ids.Add(t.Id);
    }

    private int EncodeSegment(string text, int from, int to, bool firstSegment, int word, List<SeqToken> output)
    {
        if (ChosenFastPath() is { } fast && fast.TryEncode(this, text, from, to, ref word, output)) return word;
        var t = _text ??= new NormalizedText();
        t.Reset(text, from, to);
        Normalizer?.Normalize(t);
        var normalized = _normalizedAdded.Value;
        if (normalized.IsEmpty) return PreTokenizeAndModel(t, firstSegment, word, output);
        var matches = _normMatches ??= new List<(int, int, AddedToken)>();
        matches.Clear();
        normalized.Find(t.ToString(), matches);
        if (matches.Count == 0) return PreTokenizeAndModel(t, firstSegment, word, output);
        var sub = _sub ??= new NormalizedText();
        int pos = 0;
        foreach (var (s, e, token) in matches)
        {
            if (s > pos)
            {
                sub.CopyFrom(t, pos, s);
                word = PreTokenizeAndModel(sub, firstSegment, word, output);
                firstSegment = false;
            }
            output.Add(new SeqToken(token.Id, t.OrigStart(s), t.OrigEnd(e - 1), word++));
            firstSegment = false;
            pos = e;
        }
        if (pos < t.Length)
        {
            sub.CopyFrom(t, pos, t.Length);
            word = PreTokenizeAndModel(sub, firstSegment, word, output);
        }
        return word;
    }

    /// <summary>
    /// Normalizes, pre-tokenizes and tokenizes units [from, to) of <paramref name="text"/> on their own: for a fast
    /// path that hands over the stretches it does not handle (only where no added token is matched after
    /// normalization, and the pre-tokenizer ignores whether the text opens the input).
    /// </summary>
    internal int EncodeNormalizedRun(string text, int from, int to, int word, List<SeqToken> output)
    {
        var t = _text ??= new NormalizedText();
        t.Reset(text, from, to);
        Normalizer?.Normalize(t);
        return PreTokenizeAndModel(t, false, word, output);
    }

    /// <summary>Whether no added token is matched in the normalized text (the usual case: special tokens are matched raw).</summary>
    internal bool NoNormalizedAddedTokens => _normalizedAdded.Value.IsEmpty;

    private FastPath? _fastPath;
    private int _fastPathChosen;

    // Chosen on first use: the pipeline's parts are init properties, complete only once the object is built.
    private FastPath? ChosenFastPath()
    {
        if (Volatile.Read(ref _fastPathChosen) == 0)
        {
            _fastPath = FastPath.For(this);
            Volatile.Write(ref _fastPathChosen, 1);
        }
        return _fastPath;
    }

    private string[]? _tokenTable;

    // IdToToken for every id of the model's table, added tokens included: one array read per token in Build
    // instead of a dictionary probe.
    private string[] TokenTable()
    {
        if (_tokenTable is { } table) return table;
        table = (string[])Model.IdToTokenTable.Clone();
        foreach (var (id, content) in _addedById)
            if ((uint)id < (uint)table.Length) table[id] = content;
        return _tokenTable = table;
    }

    private int PreTokenizeAndModel(NormalizedText t, bool firstSegment, int word, List<SeqToken> output)
    {
        if (t.Length == 0) return word; // nothing to pre-tokenize: no prefix space/▁ token for an empty text
        var pieces = _pieces ??= new List<Piece>();
        var raw = _raw ??= new List<RawToken>();
        pieces.Clear();
        pieces.Add(new Piece(0, t.Length));
        PreTokenizer?.PreTokenize(t, pieces, firstSegment);
        foreach (var p in pieces)
        {
            if (p.End <= p.Start) continue;
            raw.Clear();
            Model.Tokenize(t.Text[p.Start..p.End], raw);
            foreach (var r in raw)
            {
                int a = p.Start + r.Start, b = p.Start + r.End - 1;
                output.Add(new SeqToken(r.Id, t.OrigStart(a), Math.Max(t.OrigStart(a), t.OrigEnd(b)), word));
            }
            word++;
        }
        return word;
    }

    public int NumSpecialTokensToAdd(bool pair) => PostProcessor?.NumSpecialTokensToAdd(pair) ?? 0;

    /// <summary>Truncation as tokenizers' truncate_encodings does it (README of the golden files gives the algorithm).</summary>
    public static void Truncate(List<SeqToken> a, List<SeqToken>? b, TruncationStrategy strategy, int maxLength, int numSpecial)
    {
        if (strategy == TruncationStrategy.None) return;
        int budget = Math.Max(0, maxLength - numSpecial);
        int na = a.Count, nb = b?.Count ?? 0;
        if (na + nb <= budget) return;
        if (b == null)
        {
            if (strategy == TruncationStrategy.OnlySecond)
                throw FinetuneException.Invalid("truncation only_second needs a pair of sequences");
            a.RemoveRange(budget, na - budget);
            return;
        }
        int excess = na + nb - budget;
        switch (strategy)
        {
            case TruncationStrategy.LongestFirst:
                {
                    int n1 = Math.Min(na, nb), n2 = Math.Max(na, nb);
                    n2 = n1 > budget ? n1 : Math.Max(n1, budget - n1);
                    if (n1 + n2 > budget) { n1 = budget / 2; n2 = n1 + budget % 2; }
                    int keepA = na <= nb ? n1 : n2, keepB = na <= nb ? n2 : n1;
                    if (keepA < na) a.RemoveRange(keepA, na - keepA);
                    if (keepB < nb) b.RemoveRange(keepB, nb - keepB);
                    break;
                }
            case TruncationStrategy.OnlyFirst:
                if (na <= excess) throw FinetuneException.Invalid($"truncation only_first cannot fit max_length {maxLength}: the first sequence has {na} tokens and {excess} must go");
                a.RemoveRange(na - excess, excess);
                break;
            case TruncationStrategy.OnlySecond:
                if (nb <= excess) throw FinetuneException.Invalid($"truncation only_second cannot fit max_length {maxLength}: the second sequence has {nb} tokens and {excess} must go");
                b.RemoveRange(nb - excess, excess);
                break;
        }
    }

    /// <summary>
    /// Truncation that keeps what it cuts, as the Rust library's Encoding::truncate with a stride: each truncated
    /// sequence becomes windows of its kept length starting every (length − stride) tokens; the rows are the main
    /// pair, then each overflow of A with B (and with each overflow of B), then A with each overflow of B.
    /// </summary>
    public static List<(List<SeqToken> A, List<SeqToken>? B)> TruncateWithOverflow(List<SeqToken> a, List<SeqToken>? b, TruncationStrategy strategy, int maxLength, int numSpecial, int stride)
    {
        int na = a.Count, nb = b?.Count ?? 0;
        var keptA = new List<SeqToken>(a);
        var keptB = b == null ? null : new List<SeqToken>(b);
        Truncate(keptA, keptB, strategy, maxLength, numSpecial);
        var winA = Windows(a, keptA.Count, stride);
        List<List<SeqToken>?> winB = b == null ? [null] : [.. Windows(b, keptB!.Count, stride)];
        var rows = new List<(List<SeqToken>, List<SeqToken>?)> { (winA[0], winB[0]) };
        for (int i = 1; i < winA.Count; i++)
        {
            rows.Add((winA[i], winB[0]));
            for (int j = 1; j < winB.Count; j++) rows.Add((winA[i], winB[j]));
        }
        for (int j = 1; j < winB.Count; j++) rows.Add((winA[0], winB[j]));
        return rows;
    }

    private static List<List<SeqToken>> Windows(List<SeqToken> seq, int length, int stride)
    {
        if (length >= seq.Count) return [seq];
        if (length == 0) return [new List<SeqToken>(), seq];
        if (stride >= length) throw FinetuneException.Invalid($"stride {stride} must be smaller than the truncated length {length} (max_length minus the special tokens)");
        var windows = new List<List<SeqToken>>();
        for (int start = 0; ; start += length - stride)
        {
            int stop = Math.Min(start + length, seq.Count);
            windows.Add(seq.GetRange(start, stop - start));
            if (stop == seq.Count) break;
        }
        return windows;
    }

    private static readonly TemplateItem[] PlainSingle = [new(null, 0, 0)];
    private static readonly TemplateItem[] PlainPair = [new(null, 0, 0), new(null, 1, 1)];

    /// <summary>Adds special tokens (when asked) and builds the row's arrays.</summary>
    public Encoding Build(List<SeqToken> a, List<SeqToken>? b, bool addSpecial)
    {
        IReadOnlyList<TemplateItem> template;
        if (addSpecial && PostProcessor != null) template = b == null ? PostProcessor.Single : PostProcessor.Pair;
        else template = b == null ? PlainSingle : PlainPair;
        int n = 0;
        for (int i = 0; i < template.Count; i++)
        {
            var item = template[i];
            n += item.Special != null ? PostProcessor!.Specials[item.Special].Ids.Length : (item.Sequence == 0 ? a.Count : b!.Count);
        }
        var ids = new int[n];
        var types = new int[n];
        var special = new int[n];
        var offsets = new (int, int)[n];
        var words = new int?[n];
        var seqs = new int?[n];
        var tokens = new string[n];
        var mask = new int[n];
        Array.Fill(mask, 1);
        int k = 0;
        var table = TokenTable();
        for (int i = 0; i < template.Count; i++)
        {
            var item = template[i];
            if (item.Special != null)
            {
                var (sid, stok) = PostProcessor!.Specials[item.Special];
                for (int j = 0; j < sid.Length; j++)
                {
                    ids[k] = sid[j]; types[k] = item.TypeId; special[k] = 1; tokens[k] = stok[j];
                    k++;
                }
                continue;
            }
            var seq = item.Sequence == 0 ? a : b!;
            // A store into a string[] element goes through the runtime's covariance check; one through a ref to the
            // element does not (the array is exactly string[]), and this is one store per token.
            ref string token0 = ref MemoryMarshal.GetArrayDataReference(tokens);
            foreach (var t in CollectionsMarshal.AsSpan(seq))
            {
                ids[k] = t.Id; types[k] = item.TypeId; offsets[k] = (t.Start, t.End); words[k] = t.Word; seqs[k] = item.Sequence;
                string token = (uint)t.Id < (uint)table.Length ? table[t.Id] : IdToToken(t.Id) ?? "";
                Unsafe.Add(ref token0, k) = token;
                if (TrimOffsets) offsets[k] = Trim(token, t.Start, t.End);
                k++;
            }
        }
        return new Encoding
        {
            InputIds = ids,
            TokenTypeIds = types,
            AttentionMask = mask,
            SpecialTokensMask = special,
            Offsets = offsets,
            WordIds = words,
            SequenceIds = seqs,
            Tokens = tokens,
        };
    }

    private static (int, int) Trim(string token, int start, int end)
    {
        const char Space = '\u0120'; // the byte-level image of ' '
        int lead = 0, trail = 0;
        while (lead < token.Length && token[lead] == Space) lead++;
        while (trail < token.Length - lead && token[token.Length - 1 - trail] == Space) trail++;
        int s = Math.Min(start + lead, end), e = Math.Max(end - trail, s);
        return (s, e);
    }

    /// <summary>Pads a row to <paramref name="length"/> on the given side.</summary>
    public static Encoding Pad(Encoding e, int length, int padId, string padToken, PaddingSide side)
    {
        int extra = length - e.Length;
        if (extra <= 0) return e;
        int off = side == PaddingSide.Left ? extra : 0, padAt = side == PaddingSide.Left ? 0 : e.Length;
        T[] Grow<T>(T[] src, T fill)
        {
            var r = new T[length];
            Array.Copy(src, 0, r, off, src.Length);
            for (int i = 0; i < extra; i++) r[padAt + i] = fill;
            return r;
        }
        return new Encoding
        {
            InputIds = Grow(e.InputIds, padId),
            TokenTypeIds = Grow(e.TokenTypeIds, 0),
            AttentionMask = Grow(e.AttentionMask, 0),
            SpecialTokensMask = Grow(e.SpecialTokensMask, 1),
            Offsets = Grow(e.Offsets, (0, 0)),
            WordIds = Grow(e.WordIds, (int?)null),
            SequenceIds = Grow(e.SequenceIds, (int?)null),
            Tokens = Grow(e.Tokens, padToken),
        };
    }
}
