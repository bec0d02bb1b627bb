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
    public AddedVocabulary Added { get; init; } = new([]);

    [ThreadStatic] private static NormalizedText? _text;
    [ThreadStatic] private static List<Piece>? _pieces;
    [ThreadStatic] private static List<RawToken>? _raw;
    [ThreadStatic] private static List<(int, int, AddedToken)>? _matches;

    public string? IdToToken(int id)
    {
        foreach (var t in Added.Tokens) if (t.Id == id) return t.Content;
        return Model.IdToToken(id);
    }

    public int? TokenToId(string token)
    {
        foreach (var t in Added.Tokens) if (t.Content == token) return t.Id;
        return Model.TokenToId(token);
    }

    /// <summary>Tokenizes one text without special tokens.</summary>
    public void EncodeSequence(string text, List<SeqToken> output)
    {
        var matches = _matches ??= new List<(int, int, AddedToken)>();
        matches.Clear();
        Added.Find(text, matches);
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

    private int EncodeSegment(string text, int from, int to, bool firstSegment, int word, List<SeqToken> output)
    {
        var t = _text ??= new NormalizedText();
        var pieces = _pieces ??= new List<Piece>();
        var raw = _raw ??= new List<RawToken>();
        t.Reset(text, from, to);
        Normalizer?.Normalize(t);
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

    /// <summary>Adds special tokens (when asked) and builds the row's arrays.</summary>
    public Encoding Build(List<SeqToken> a, List<SeqToken>? b, bool addSpecial)
    {
        IReadOnlyList<TemplateItem> template;
        if (addSpecial && PostProcessor != null) template = b == null ? PostProcessor.Single : PostProcessor.Pair;
        else template = b == null ? [new(null, 0, 0)] : [new(null, 0, 0), new(null, 1, 1)];
        int n = 0;
        foreach (var item in template) n += item.Special != null ? PostProcessor!.Specials[item.Special].Ids.Length : (item.Sequence == 0 ? a.Count : b!.Count);
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
        foreach (var item in template)
        {
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
            foreach (var t in seq)
            {
                ids[k] = t.Id; types[k] = item.TypeId; offsets[k] = (t.Start, t.End); words[k] = t.Word; seqs[k] = item.Sequence;
                tokens[k] = IdToToken(t.Id) ?? "";
                k++;
            }
        }
        return new Encoding
        {
            InputIds = ids, TokenTypeIds = types, AttentionMask = mask, SpecialTokensMask = special, Offsets = offsets,
            WordIds = words, SequenceIds = seqs, Tokens = tokens,
        };
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
            InputIds = Grow(e.InputIds, padId), TokenTypeIds = Grow(e.TokenTypeIds, 0), AttentionMask = Grow(e.AttentionMask, 0),
            SpecialTokensMask = Grow(e.SpecialTokensMask, 1), Offsets = Grow(e.Offsets, (0, 0)), WordIds = Grow(e.WordIds, (int?)null),
            SequenceIds = Grow(e.SequenceIds, (int?)null), Tokens = Grow(e.Tokens, padToken),
        };
    }
}
