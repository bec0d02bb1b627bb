using System.Collections.Concurrent;

namespace Finetune.Tokenizers;

/// <summary>A token the model produced for one word: its id and the units [Start, End) of the word it covers.</summary>
internal record struct RawToken(int Id, int Start, int End);

/// <summary>The model step: turns one pre-tokenized word into ids.</summary>
internal abstract class TokenizerModel
{
    protected TokenizerModel(string[] idToToken)
    {
        IdToTokenTable = idToToken;
        Vocab = new Dictionary<string, int>(idToToken.Length, StringComparer.Ordinal);
        for (int i = 0; i < idToToken.Length; i++) Vocab.TryAdd(idToToken[i], i);
        Lookup = Vocab.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    protected Dictionary<string, int> Vocab { get; }

    protected Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; }

    public string[] IdToTokenTable { get; }

    public int VocabSize => IdToTokenTable.Length;

    public abstract void Tokenize(ReadOnlySpan<char> word, List<RawToken> output);

    public int? TokenToId(string token) => Vocab.TryGetValue(token, out int id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)IdToTokenTable.Length ? IdToTokenTable[id] : null;

    /// <summary>
    /// Builds the id → token table from a token → id map (ids may have gaps, filled with ""). The table is sized
    /// by the number of entries: an id that is negative or far past the count (which only a corrupt or hostile
    /// file has) is an error naming <paramref name="source"/> and the token, never an allocation of its size.
    /// </summary>
    public static string[] Table(IReadOnlyDictionary<string, int> vocab, string source)
    {
        int max = -1;
        long limit = 2L * vocab.Count + 256;
        foreach (var kv in vocab)
        {
            if (kv.Value < 0 || kv.Value >= limit)
                throw FinetuneException.Invalid($"{source}: token \"{kv.Key}\" has id {kv.Value}, outside 0..{limit - 1} (ids must number the {vocab.Count} entries, with few gaps)");
            max = Math.Max(max, kv.Value);
        }
        var t = new string[max + 1];
        Array.Fill(t, "");
        foreach (var kv in vocab) t[kv.Value] = kv.Key;
        return t;
    }
}

/// <summary>WordPiece: greedy longest match from the left, continuations prefixed by ##; an unmatched word is [UNK].</summary>
internal sealed class WordPieceModel : TokenizerModel
{
    private readonly int _unkId;
    private readonly string _prefix;
    private readonly int _longestToken;

    public WordPieceModel(string[] idToToken, string unkToken, string prefix = "##", int maxInputCharsPerWord = 100) : base(idToToken)
    {
        _unkId = Vocab.TryGetValue(unkToken, out int u) ? u : throw FinetuneException.Invalid($"the WordPiece vocabulary has no unknown token '{unkToken}'");
        UnkToken = unkToken;
        _prefix = prefix;
        Prefix = prefix;
        MaxInputCharsPerWord = maxInputCharsPerWord >= 0 ? maxInputCharsPerWord
            : throw FinetuneException.Invalid($"the WordPiece model's max_input_chars_per_word is {maxInputCharsPerWord}; it must be at least 0");
        foreach (string t in idToToken) _longestToken = Math.Max(_longestToken, t.Length);
    }

    public string UnkToken { get; }

    public string Prefix { get; }

    /// <summary>
    /// tokenizers' max_input_chars_per_word (100 by default): a longer word (in code points) is the unknown token.
    /// </summary>
    public int MaxInputCharsPerWord
    {
        get;
        set => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "max_input_chars_per_word must be at least 0.");
    }

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (word.Length > MaxInputCharsPerWord && CountCodePoints(word) > MaxInputCharsPerWord)
        {
            output.Add(new RawToken(_unkId, 0, word.Length));
            return;
        }
        int first = output.Count;
        Span<char> scratch = word.Length + _prefix.Length <= 512 ? stackalloc char[word.Length + _prefix.Length] : new char[word.Length + _prefix.Length];
        _prefix.CopyTo(scratch);
        int start = 0;
        while (start < word.Length)
        {
            // No vocabulary entry is longer than the longest token, so longer candidates cannot match: each start
            // costs at most that many look-ups instead of the rest of the word.
            int end = word.Length, found = -1;
            if (end - start > _longestToken)
            {
                end = start + _longestToken;
                if (char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) end--;
            }
            while (end > start)
            {
                scoped ReadOnlySpan<char> sub;
                if (start > 0)
                {
                    word[start..end].CopyTo(scratch[_prefix.Length..]);
                    sub = scratch[..(_prefix.Length + end - start)];
                }
                else sub = word[..end];
                if (Lookup.TryGetValue(sub, out int id)) { found = id; break; }
                end--;
                if (end > start && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) end--;
            }
            if (found < 0)
            {
                output.RemoveRange(first, output.Count - first);
                output.Add(new RawToken(_unkId, 0, word.Length));
                return;
            }
            output.Add(new RawToken(found, start, end));
            start = end;
        }
    }

    private static int CountCodePoints(ReadOnlySpan<char> s)
    {
        int n = s.Length;
        foreach (char c in s) if (char.IsLowSurrogate(c)) n--;
        return n;
    }
}

/// <summary>WordLevel: the whole word is a token, or the unknown token.</summary>
internal sealed class WordLevelModel(string[] idToToken, string unkToken) : TokenizerModel(idToToken)
{
    public string UnkToken { get; } = unkToken;

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (Lookup.TryGetValue(word, out int id)) output.Add(new RawToken(id, 0, word.Length));
        else if (Vocab.TryGetValue(UnkToken, out int unk)) output.Add(new RawToken(unk, 0, word.Length));
        else throw FinetuneException.Invalid($"WordLevel: '{word.ToString()}' is not in the vocabulary and there is no unknown token");
    }
}

/// <summary>
/// Byte-pair encoding: a word starts as characters (or bytes, for byte-level vocabularies) and the adjacent pair
/// with the lowest merge rank is merged until none is left. Results are cached per word.
/// </summary>
internal sealed class BpeModel : TokenizerModel
{
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly ConcurrentDictionary<string, RawToken[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RawToken[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    public BpeModel(string[] idToToken, IReadOnlyList<(string A, string B)> merges, string? unkToken = null, string? continuingSubwordPrefix = null,
        string? endOfWordSuffix = null, bool fuseUnk = false, bool byteFallback = false, bool ignoreMerges = false, string source = "the BPE model") : base(idToToken)
    {
        UnkToken = unkToken;
        ContinuingSubwordPrefix = continuingSubwordPrefix ?? "";
        EndOfWordSuffix = endOfWordSuffix ?? "";
        FuseUnk = fuseUnk;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;
        MergeList = merges;
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int r = 0; r < merges.Count; r++)
        {
            var (a, b) = merges[r];
            if (!Vocab.TryGetValue(a, out int ia)) throw FinetuneException.Invalid($"{source}: merge {r + 1} '{a} {b}' names '{a}', which is not in the vocabulary");
            if (!Vocab.TryGetValue(b, out int ib)) throw FinetuneException.Invalid($"{source}: merge {r + 1} '{a} {b}' names '{b}', which is not in the vocabulary");
            string merged = a + (ContinuingSubwordPrefix.Length > 0 && b.StartsWith(ContinuingSubwordPrefix, StringComparison.Ordinal) ? b[ContinuingSubwordPrefix.Length..] : b);
            if (!Vocab.TryGetValue(merged, out int im)) throw FinetuneException.Invalid($"{source}: merge {r + 1} '{a} {b}' makes '{merged}', which is not in the vocabulary");
            _merges.TryAdd(Key(ia, ib), (r, im));
        }
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string? UnkToken { get; }
    public string ContinuingSubwordPrefix { get; }
    public string EndOfWordSuffix { get; }
    public bool FuseUnk { get; }
    public bool ByteFallback { get; }
    public bool IgnoreMerges { get; }
    public IReadOnlyList<(string A, string B)> MergeList { get; }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Words of at most this many UTF-8 bytes are cached, as tokenizers' BPE caches words under MAX_LENGTH (256).</summary>
    public const int CacheMaxWordBytes = 255;

    /// <summary>How many words the cache holds (tokenizers' DEFAULT_CACHE_CAPACITY); later words are computed each time.</summary>
    public int CacheCapacity { get; set; } = 10_000;

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (word.Length == 0) return;
        // A long word is rarely seen twice, and caching it would keep megabytes alive for one hostile input.
        bool cacheable = word.Length <= CacheMaxWordBytes && System.Text.Encoding.UTF8.GetByteCount(word) <= CacheMaxWordBytes;
        if (cacheable && _cacheLookup.TryGetValue(word, out var cached)) { output.AddRange(cached); return; }
        var result = Compute(word);
        if (cacheable && _cache.Count < CacheCapacity) _cacheLookup.TryAdd(word, result);
        output.AddRange(result);
    }

    private RawToken[] Compute(ReadOnlySpan<char> word)
    {
        if (IgnoreMerges && Lookup.TryGetValue(word, out int whole)) return [new RawToken(whole, 0, word.Length)];
        int cap = word.Length * (ByteFallback ? 4 : 1);
        var ids = new int[cap];
        var starts = new int[cap];
        var ends = new int[cap];
        int n = 0;
        Span<byte> utf8 = stackalloc byte[4];
        Span<char> piece = stackalloc char[2 + ContinuingSubwordPrefix.Length + EndOfWordSuffix.Length];
        int? unk = UnkToken != null && Vocab.TryGetValue(UnkToken, out int u) ? u : null;
        for (int i = 0; i < word.Length;)
        {
            int cp = NormalizedText.CodePointAt(word, i, out int w);
            bool first = i == 0, last = i + w == word.Length;
            int len = 0;
            if (!first) { ContinuingSubwordPrefix.CopyTo(piece); len = ContinuingSubwordPrefix.Length; }
            word.Slice(i, w).CopyTo(piece[len..]);
            len += w;
            if (last) { EndOfWordSuffix.CopyTo(piece[len..]); len += EndOfWordSuffix.Length; }
            if (Lookup.TryGetValue(piece[..len], out int id)) { ids[n] = id; starts[n] = i; ends[n] = i + w; n++; }
            else if (ByteFallback && TryBytes(cp, utf8, ids, starts, ends, ref n, i, w)) { }
            else if (unk is int uid)
            {
                if (FuseUnk && n > 0 && ids[n - 1] == uid) ends[n - 1] = i + w;
                else { ids[n] = uid; starts[n] = i; ends[n] = i + w; n++; }
            }
            i += w;
        }
        return Merge(ids, starts, ends, n);
    }

    // Lowest rank first, leftmost on ties, with a priority queue over a linked list of symbols (O(n log n) even
    // for very long words, as tokenizers' Word::merge_all); queue entries made stale by an earlier merge are
    // skipped when popped.
    private RawToken[] Merge(int[] ids, int[] starts, int[] ends, int n)
    {
        if (n > 1 && _merges.Count > 0)
        {
            var next = new int[n];
            var prev = new int[n];
            var alive = new bool[n];
            for (int k = 0; k < n; k++) { next[k] = k + 1 < n ? k + 1 : -1; prev[k] = k - 1; alive[k] = true; }
            var queue = new PriorityQueue<(int Pos, int NewId), long>(n);
            void Push(int pos)
            {
                int nx = next[pos];
                if (nx >= 0 && _merges.TryGetValue(Key(ids[pos], ids[nx]), out var m)) queue.Enqueue((pos, m.NewId), ((long)m.Rank << 32) | (uint)pos);
            }
            for (int k = 0; k + 1 < n; k++) Push(k);
            int count = n;
            while (queue.TryDequeue(out var top, out _))
            {
                int pos = top.Pos, nx = next[pos];
                if (!alive[pos] || nx < 0) continue;
                if (!_merges.TryGetValue(Key(ids[pos], ids[nx]), out var m) || m.NewId != top.NewId) continue;
                ids[pos] = m.NewId;
                ends[pos] = ends[nx];
                alive[nx] = false;
                count--;
                next[pos] = next[nx];
                if (next[pos] >= 0) prev[next[pos]] = pos;
                if (prev[pos] >= 0) Push(prev[pos]);
                Push(pos);
            }
            var merged = new RawToken[count];
            int j = 0;
            for (int k = 0; k >= 0; k = next[k]) merged[j++] = new RawToken(ids[k], starts[k], ends[k]);
            return merged;
        }
        var r = new RawToken[n];
        for (int k = 0; k < n; k++) r[k] = new RawToken(ids[k], starts[k], ends[k]);
        return r;
    }

    private bool TryBytes(int cp, Span<byte> utf8, int[] ids, int[] starts, int[] ends, ref int n, int i, int w)
    {
        int count = NormalizedText.Utf8(cp, utf8);
        Span<int> found = stackalloc int[4];
        Span<char> name = stackalloc char[6];
        for (int b = 0; b < count; b++)
        {
            utf8[b].TryFormat(name[3..], out _, "X2", System.Globalization.CultureInfo.InvariantCulture);
            "<0x".CopyTo(name);
            name[5] = '>';
            if (!Lookup.TryGetValue(name, out found[b])) return false;
        }
        for (int b = 0; b < count; b++) { ids[n] = found[b]; starts[n] = i; ends[n] = i + w; n++; }
        return true;
    }
}
