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
    private readonly int _maxChars;

    public WordPieceModel(string[] idToToken, string unkToken, string prefix = "##", int maxInputCharsPerWord = 100) : base(idToToken)
    {
        _unkId = Vocab.TryGetValue(unkToken, out int u) ? u : throw FinetuneException.Invalid($"the WordPiece vocabulary has no unknown token '{unkToken}'");
        UnkToken = unkToken;
        _prefix = prefix;
        _maxChars = maxInputCharsPerWord;
        Prefix = prefix;
        MaxInputCharsPerWord = maxInputCharsPerWord;
    }

    public string UnkToken { get; }

    public string Prefix { get; }

    public int MaxInputCharsPerWord { get; }

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (CountCodePoints(word) > _maxChars)
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
            int end = word.Length, found = -1;
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

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        if (word.Length == 0) return;
        if (_cacheLookup.TryGetValue(word, out var cached)) { output.AddRange(cached); return; }
        var result = Compute(word);
        if (_cache.Count < 1_000_000) _cacheLookup.TryAdd(word, result);
        output.AddRange(result);
    }

    private RawToken[] Compute(ReadOnlySpan<char> word)
    {
        if (IgnoreMerges && Lookup.TryGetValue(word, out int whole)) return [new RawToken(whole, 0, word.Length)];
        var ids = new List<int>(word.Length);
        var starts = new List<int>(word.Length);
        var ends = new List<int>(word.Length);
        Span<byte> utf8 = stackalloc byte[4];
        int? unk = UnkToken != null && Vocab.TryGetValue(UnkToken, out int u) ? u : null;
        for (int i = 0; i < word.Length;)
        {
            int cp = NormalizedText.CodePointAt(word, i, out int w);
            bool first = i == 0, last = i + w == word.Length;
            string piece = (first ? "" : ContinuingSubwordPrefix) + word.Slice(i, w).ToString() + (last ? EndOfWordSuffix : "");
            if (Vocab.TryGetValue(piece, out int id)) { ids.Add(id); starts.Add(i); ends.Add(i + w); }
            else if (ByteFallback && TryBytes(cp, utf8, ids, starts, ends, i, w)) { }
            else if (unk is int uid)
            {
                if (FuseUnk && ids.Count > 0 && ids[^1] == uid) ends[^1] = i + w;
                else { ids.Add(uid); starts.Add(i); ends.Add(i + w); }
            }
            i += w;
        }
        return Merge(ids, starts, ends);
    }

    // Lowest rank first, leftmost on ties, with a priority queue over a linked list of symbols (O(n log n) even
    // for very long words); queue entries made stale by an earlier merge are skipped when popped.
    private RawToken[] Merge(List<int> ids, List<int> starts, List<int> ends)
    {
        int n = ids.Count;
        if (n > 1 && _merges.Count > 0)
        {
            var next = new int[n];
            var prev = new int[n];
            var alive = new bool[n];
            for (int k = 0; k < n; k++) { next[k] = k + 1 < n ? k + 1 : -1; prev[k] = k - 1; alive[k] = true; }
            var queue = new PriorityQueue<(int Pos, int NewId), long>();
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
            var merged = new List<RawToken>();
            for (int k = 0; k >= 0; k = next[k]) merged.Add(new RawToken(ids[k], starts[k], ends[k]));
            return merged.ToArray();
        }
        var r = new RawToken[ids.Count];
        for (int k = 0; k < r.Length; k++) r[k] = new RawToken(ids[k], starts[k], ends[k]);
        return r;
    }

    private bool TryBytes(int cp, Span<byte> utf8, List<int> ids, List<int> starts, List<int> ends, int i, int w)
    {
        int n = NormalizedText.Utf8(cp, utf8);
        Span<int> found = stackalloc int[4];
        for (int b = 0; b < n; b++)
        {
            if (!Vocab.TryGetValue($"<0x{utf8[b]:X2}>", out found[b])) return false;
        }
        for (int b = 0; b < n; b++) { ids.Add(found[b]); starts.Add(i); ends.Add(i + w); }
        return true;
    }
}
