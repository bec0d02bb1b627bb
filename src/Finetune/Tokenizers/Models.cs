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
    private readonly int _longestToken;

    // Word-initial pieces, and continuation pieces keyed without their prefix ("##able" under "able"), so that a
    // candidate inside a word is looked up as a slice of the word itself instead of being copied behind the prefix.
    private readonly SpanVocab _initials;
    private readonly SpanVocab _continuations;

    public WordPieceModel(string[] idToToken, string unkToken, string prefix = "##", int maxInputCharsPerWord = 100) : base(idToToken)
    {
        _unkId = Vocab.TryGetValue(unkToken, out int u) ? u : throw FinetuneException.Invalid($"the WordPiece vocabulary has no unknown token '{unkToken}'");
        UnkToken = unkToken;
        Prefix = prefix;
        MaxInputCharsPerWord = maxInputCharsPerWord >= 0 ? maxInputCharsPerWord
            : throw FinetuneException.Invalid($"the WordPiece model's max_input_chars_per_word is {maxInputCharsPerWord}; it must be at least 0");
        foreach (string t in idToToken) _longestToken = Math.Max(_longestToken, t.Length);
        // In id order, as the vocabulary itself: a duplicated token keeps its first id.
        var initials = new List<(string, int)>(idToToken.Length);
        var continuations = new List<(string, int)>();
        for (int i = 0; i < idToToken.Length; i++)
        {
            initials.Add((idToToken[i], i));
            if (idToToken[i].Length > prefix.Length && idToToken[i].StartsWith(prefix, StringComparison.Ordinal)) continuations.Add((idToToken[i][prefix.Length..], i));
        }
        _initials = new SpanVocab(initials);
        _continuations = new SpanVocab(continuations);
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

    /// <summary>
    /// The id of a word that is itself a word-initial vocabulary entry, given its running hash
    /// (<see cref="SpanVocab.Extend"/> over its characters); -1 otherwise, and then <see cref="Tokenize"/> decides.
    /// The whole word is Tokenize's first candidate, so a hit is exactly Tokenize's one token.
    /// </summary>
    public int FindWholeWord(ReadOnlySpan<char> word, uint hash) => word.Length <= MaxInputCharsPerWord ? _initials.Find(word, hash) : -1;

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (word.Length > MaxInputCharsPerWord && CountCodePoints(word) > MaxInputCharsPerWord)
        {
            output.Add(new RawToken(_unkId, 0, word.Length));
            return;
        }
        int first = output.Count;
        int start = 0;
        // The running hash of every candidate from the current start, computed once per start for all lengths tried.
        int most = Math.Min(word.Length, _longestToken);
        Span<uint> hashes = most <= 256 ? stackalloc uint[most] : new uint[most];
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
            uint h = 0;
            for (int k = start; k < end; k++) hashes[k - start] = h = SpanVocab.Extend(h, word[k]);
            var vocab = start > 0 ? _continuations : _initials;
            while (end > start)
            {
                int id = vocab.Find(word[start..end], hashes[end - start - 1]);
                if (id >= 0) { found = id; break; }
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

    // Entries added to the cache. ConcurrentDictionary.Count takes every lock of the table, so asking it on each
    // miss serialises the threads and, once the cache is full, costs more than the merge it guards.
    private int _cached;

    private readonly int? _unkId;

    // The id of each single character below this table's length (-1: not in the vocabulary), for a model without
    // continuation prefix or end-of-word suffix, where a symbol of one character is that character alone.
    private readonly int[]? _charIds;

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
        _unkId = unkToken != null && Vocab.TryGetValue(unkToken, out int u) ? u : null;
        if (ContinuingSubwordPrefix.Length == 0 && EndOfWordSuffix.Length == 0)
        {
            // Byte-level alphabets lie below U+0144; 1024 also covers Latin, Greek and Cyrillic letters.
            _charIds = new int[1024];
            for (int c = 0; c < _charIds.Length; c++)
                _charIds[c] = char.IsSurrogate((char)c) || !Lookup.TryGetValue([(char)c], out int id) ? -1 : id;
        }
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

    // Words of up to this many symbols merge by scanning an array of pair ranks (no queue, no allocation); longer
    // ones through the priority queue, which stays O(n log n) on hostile inputs.
    private const int ScanMergeMaxSymbols = 64;

    [ThreadStatic] private static int[]? _ids, _starts, _ends, _ranks, _newIds;

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (word.Length == 0) return;
        // A long word is rarely seen twice, and caching it would keep megabytes alive for one hostile input. A UTF-16
        // unit is at most 3 UTF-8 bytes, so short words need no byte count.
        bool cacheable = word.Length <= CacheMaxWordBytes && (word.Length * 3 <= CacheMaxWordBytes || System.Text.Encoding.UTF8.GetByteCount(word) <= CacheMaxWordBytes);
        if (cacheable && _cacheLookup.TryGetValue(word, out var cached)) { output.AddRange(cached); return; }
        int first = output.Count;
        Compute(word, output);
        if (cacheable && Volatile.Read(ref _cached) < CacheCapacity)
        {
            var result = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[first..].ToArray();
            if (_cacheLookup.TryAdd(word, result)) Interlocked.Increment(ref _cached);
        }
    }

    /// <summary>A per-thread scratch array of at least <paramref name="n"/> elements; a fresh one, not kept, for very long words.</summary>
    private static int[] Scratch(ref int[]? kept, int n)
    {
        if (n > 4096) return new int[n];
        return kept is { } k && k.Length >= n ? k : kept = new int[Math.Max(n, 64)];
    }

    private void Compute(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (IgnoreMerges && Lookup.TryGetValue(word, out int whole)) { output.Add(new RawToken(whole, 0, word.Length)); return; }
        int cap = word.Length * (ByteFallback ? 4 : 1);
        var ids = Scratch(ref _ids, cap);
        var starts = Scratch(ref _starts, cap);
        var ends = Scratch(ref _ends, cap);
        int n = 0;
        Span<byte> utf8 = stackalloc byte[4];
        Span<char> piece = stackalloc char[2 + ContinuingSubwordPrefix.Length + EndOfWordSuffix.Length];
        var charIds = _charIds;
        for (int i = 0; i < word.Length;)
        {
            char c0 = word[i];
            if (charIds != null && c0 < charIds.Length && charIds[c0] >= 0)
            {
                ids[n] = charIds[c0]; starts[n] = i; ends[n] = i + 1; n++;
                i++;
                continue;
            }
            int cp = NormalizedText.CodePointAt(word, i, out int w);
            bool first = i == 0, last = i + w == word.Length;
            int len = 0;
            if (!first) { ContinuingSubwordPrefix.CopyTo(piece); len = ContinuingSubwordPrefix.Length; }
            word.Slice(i, w).CopyTo(piece[len..]);
            len += w;
            if (last) { EndOfWordSuffix.CopyTo(piece[len..]); len += EndOfWordSuffix.Length; }
            if (Lookup.TryGetValue(piece[..len], out int id)) { ids[n] = id; starts[n] = i; ends[n] = i + w; n++; }
            else if (ByteFallback && TryBytes(cp, utf8, ids, starts, ends, ref n, i, w)) { }
            else if (_unkId is int uid)
            {
                if (FuseUnk && n > 0 && ids[n - 1] == uid) ends[n - 1] = i + w;
                else { ids[n] = uid; starts[n] = i; ends[n] = i + w; n++; }
            }
            i += w;
        }
        if (n > 1 && _merges.Count > 0)
        {
            if (n <= ScanMergeMaxSymbols) n = ScanMerge(ids, starts, ends, n);
            else { HeapMerge(ids, starts, ends, n, output); return; }
        }
        for (int k = 0; k < n; k++) output.Add(new RawToken(ids[k], starts[k], ends[k]));
    }

    private void PairRank(int a, int b, out int rank, out int newId)
    {
        if (_merges.TryGetValue(Key(a, b), out var m)) { rank = m.Rank; newId = m.NewId; }
        else { rank = int.MaxValue; newId = -1; }
    }

    // Lowest rank first, leftmost on ties (what the heap below does), over arrays compacted after each merge:
    // ranks[k] is the rank of the pair (k, k + 1), so only the two pairs touching a merge are looked up again.
    private int ScanMerge(int[] ids, int[] starts, int[] ends, int n)
    {
        var ranks = Scratch(ref _ranks, n);
        var newIds = Scratch(ref _newIds, n);
        for (int k = 0; k + 1 < n; k++) PairRank(ids[k], ids[k + 1], out ranks[k], out newIds[k]);
        while (n > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int k = 0; k + 1 < n; k++)
                if (ranks[k] < bestRank) { bestRank = ranks[k]; best = k; }
            if (best < 0) break;
            ids[best] = newIds[best];
            ends[best] = ends[best + 1];
            // Symbol best + 1 goes; the pairs after it move down one place.
            int tail = n - best - 2;
            ids.AsSpan(best + 2, tail).CopyTo(ids.AsSpan(best + 1));
            starts.AsSpan(best + 2, tail).CopyTo(starts.AsSpan(best + 1));
            ends.AsSpan(best + 2, tail).CopyTo(ends.AsSpan(best + 1));
            if (tail > 1)
            {
                ranks.AsSpan(best + 2, tail - 1).CopyTo(ranks.AsSpan(best + 1));
                newIds.AsSpan(best + 2, tail - 1).CopyTo(newIds.AsSpan(best + 1));
            }
            n--;
            if (best > 0) PairRank(ids[best - 1], ids[best], out ranks[best - 1], out newIds[best - 1]);
            if (best + 1 < n) PairRank(ids[best], ids[best + 1], out ranks[best], out newIds[best]);
        }
        return n;
    }

    // Lowest rank first, leftmost on ties, with a priority queue over a linked list of symbols (O(n log n) even
    // for very long words, as tokenizers' Word::merge_all); queue entries made stale by an earlier merge are
    // skipped when popped.
    private void HeapMerge(int[] ids, int[] starts, int[] ends, int n, List<RawToken> output)
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
        while (queue.TryDequeue(out var top, out _))
        {
            int pos = top.Pos, nx = next[pos];
            if (!alive[pos] || nx < 0) continue;
            if (!_merges.TryGetValue(Key(ids[pos], ids[nx]), out var m) || m.NewId != top.NewId) continue;
            ids[pos] = m.NewId;
            ends[pos] = ends[nx];
            alive[nx] = false;
            next[pos] = next[nx];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) Push(prev[pos]);
            Push(pos);
        }
        for (int k = 0; k >= 0; k = next[k]) output.Add(new RawToken(ids[k], starts[k], ends[k]));
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
