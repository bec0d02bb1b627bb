namespace Finetune.Tokenizers;

/// <summary>
/// Unigram language-model tokenization: the segmentation with the highest total piece score (Viterbi over a
/// trie of pieces, SentencePiece's "optimized" forward pass and its tie-breaking: start positions in order, shorter
/// pieces first, a later candidate wins only when strictly better). A position no one-character piece covers gets
/// the unknown id with score min − 10; consecutive unknowns are fused when asked. The Rust tokenizers (tokenizer.json)
/// add path scores in double precision; sentencepiece (spiece.model) stores each position's best path score as a
/// float, so rounding decides between segmentations whose exact scores are equal (runs such as "!!!!").
/// </summary>
internal sealed class UnigramModel : TokenizerModel
{
    private const double UnkPenalty = 10.0;
    private readonly Dictionary<long, int> _edges = new();
    private readonly List<int> _nodeId = [-1];
    private readonly double _unkScore;
    private readonly double _maxScore;

    /// <param name="types">SentencePiece piece types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null (all normal).</param>
    /// <param name="float32PathScores">Reproduce sentencepiece's arithmetic: best path scores kept as float, the
    /// unknown candidate summed in float (both operands are float there), a piece's candidate compared unrounded.</param>
    public UnigramModel(string[] pieces, double[] scores, int unkId, bool byteFallback = false, bool fuseUnk = true, int[]? types = null, bool float32PathScores = false) : base(pieces)
    {
        Float32PathScores = float32PathScores;
        Scores = scores;
        UnkId = unkId;
        ByteFallback = byteFallback;
        FuseUnk = fuseUnk;
        Types = types;
        double min = double.MaxValue, max = double.MinValue;
        for (int i = 0; i < pieces.Length; i++)
        {
            int type = types?[i] ?? 1;
            if (type == 1) { min = Math.Min(min, scores[i]); max = Math.Max(max, scores[i]); }
            // SentencePiece looks up normal and user-defined pieces only; a tokenizer.json vocabulary has no types.
            if (types != null && type != 1 && type != 4) continue;
            if (i == unkId || pieces[i].Length == 0) continue;
            Insert(pieces[i], i);
        }
        _unkScore = (min == double.MaxValue ? 0 : min) - UnkPenalty;
        if (float32PathScores) _unkScore = (float)_unkScore;
        _maxScore = max == double.MinValue ? 0 : max;
    }

    public double[] Scores { get; }
    public int UnkId { get; }
    public bool ByteFallback { get; }
    public bool FuseUnk { get; }
    public int[]? Types { get; }
    public bool Float32PathScores { get; }

    private void Insert(string piece, int id)
    {
        int node = 0;
        foreach (char c in piece)
        {
            long key = ((long)node << 16) | c;
            if (!_edges.TryGetValue(key, out int child))
            {
                child = _nodeId.Count;
                _nodeId.Add(-1);
                _edges[key] = child;
            }
            node = child;
        }
        if (_nodeId[node] < 0) _nodeId[node] = id;
    }

    [ThreadStatic] private static double[]? _best;
    [ThreadStatic] private static int[]? _from;
    [ThreadStatic] private static int[]? _id;

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        int n = word.Length;
        if (n == 0) return;
        if (_best == null || _best.Length < n + 1) { _best = new double[n + 1 + 64]; _from = new int[n + 65]; _id = new int[n + 65]; }
        var best = _best; var from = _from!; var ids = _id!;
        bool f32 = Float32PathScores;
        for (int i = 0; i <= n; i++) from[i] = -1;
        best[0] = 0;
        for (int start = 0; start < n; start++)
        {
            if (start > 0 && from[start] < 0) continue; // inside a surrogate pair
            double here = best[start];
            int charLen = char.IsHighSurrogate(word[start]) && start + 1 < n && char.IsLowSurrogate(word[start + 1]) ? 2 : 1;
            bool single = false;
            int node = 0;
            for (int pos = start; pos < n; pos++)
            {
                if (!_edges.TryGetValue(((long)node << 16) | word[pos], out node)) break;
                int id = _nodeId[node];
                if (id < 0) continue;
                int end = pos + 1;
                if (end < n && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[pos])) continue;
                double score = Types != null && Types[id] == 4 ? UserDefinedScore(Utf8Length(word[start..end])) : Scores[id];
                double candidate = here + score;
                if (from[end] < 0 || candidate > best[end]) { best[end] = f32 ? (float)candidate : candidate; from[end] = start; ids[end] = id; }
                if (end - start == charLen) single = true;
            }
            if (!single)
            {
                int end = start + charLen;
                double candidate = f32 ? (float)(here + _unkScore) : here + _unkScore;
                if (from[end] < 0 || candidate > best[end]) { best[end] = candidate; from[end] = start; ids[end] = UnkId; }
            }
        }
        int first = output.Count;
        for (int end = n; end > 0; end = from[end]) output.Add(new RawToken(ids[end], from[end], end));
        output.Reverse(first, output.Count - first);
        if (FuseUnk)
        {
            int w = first;
            for (int r = first; r < output.Count; r++)
            {
                if (w > first && output[r].Id == UnkId && output[w - 1].Id == UnkId) output[w - 1] = output[w - 1] with { End = output[r].End };
                else output[w++] = output[r];
            }
            output.RemoveRange(w, output.Count - w);
        }
        if (ByteFallback) ExpandUnknownBytes(word, output, first);
    }

    private void ExpandUnknownBytes(ReadOnlySpan<char> word, List<RawToken> output, int first)
    {
        Span<byte> utf8 = stackalloc byte[4];
        for (int r = first; r < output.Count; r++)
        {
            var t = output[r];
            if (t.Id != UnkId) continue;
            var bytes = new List<RawToken>();
            for (int i = t.Start; i < t.End;)
            {
                int cp = NormalizedText.CodePointAt(word, i, out int w);
                int nb = NormalizedText.Utf8(cp, utf8);
                for (int b = 0; b < nb; b++)
                {
                    if (!Vocab.TryGetValue($"<0x{utf8[b]:X2}>", out int id)) return;
                    bytes.Add(new RawToken(id, i, i + w));
                }
                i += w;
            }
            output.RemoveAt(r);
            output.InsertRange(r, bytes);
            r += bytes.Count - 1;
        }
    }

    // sentencepiece: length * max_score_ is float arithmetic, the 0.1 bonus subtracted in double.
    private double UserDefinedScore(int utf8Length) =>
        Float32PathScores ? (double)(float)(utf8Length * (float)_maxScore) - 0.1 : utf8Length * _maxScore - 0.1;

    private static int Utf8Length(ReadOnlySpan<char> s) => System.Text.Encoding.UTF8.GetByteCount(s);
}
