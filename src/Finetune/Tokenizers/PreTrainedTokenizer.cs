namespace Finetune.Tokenizers;

/// <summary>
/// A loaded tokenizer, as transformers' tokenizer objects: encode a text, a pair or a batch with truncation and
/// padding, decode ids, save to a folder. Thread-safe: batches are encoded in parallel on all cores.
/// </summary>
public sealed class PreTrainedTokenizer
{
    internal PreTrainedTokenizer(TokenizerPipeline pipeline, TokenizerSettings settings, IReadOnlyList<string> files, string source)
    {
        Pipeline = pipeline;
        Settings = settings;
        Files = files;
        Source = source;
        PadTokenId = settings.PadToken != null ? pipeline.TokenToId(settings.PadToken) ?? 0 : 0;
    }

    internal TokenizerPipeline Pipeline { get; }

    internal TokenizerSettings Settings { get; }

    /// <summary>The files this tokenizer was loaded from (for cache fingerprints).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Where it was loaded from (folder), for messages.</summary>
    public string Source { get; }

    public int PadTokenId { get; }

    public string? PadToken => Settings.PadToken;

    public string? UnkToken => Settings.UnkToken;

    public string? ClsToken => Settings.ClsToken;

    public string? SepToken => Settings.SepToken;

    public string? MaskToken => Settings.MaskToken;

    /// <summary>tokenizer_config.json model_max_length (capped to int.MaxValue; transformers' "very large" default included).</summary>
    public int ModelMaxLength => Settings.ModelMaxLength;

    public PaddingSide PaddingSide => Settings.PaddingSide;

    public int VocabSize => Pipeline.Model.VocabSize;

    /// <summary>
    /// The longest word, in code points, that a WordPiece model splits (tokenizer.json's max_input_chars_per_word,
    /// 100 by default); a longer word is the unknown token, as in tokenizers. Null for other models: byte-level BPE
    /// has no such limit in tokenizers and splits a word of any length (in O(n log n)).
    /// </summary>
    public int? MaxInputCharsPerWord
    {
        get => (Pipeline.Model as WordPieceModel)?.MaxInputCharsPerWord;
        set
        {
            if (Pipeline.Model is not WordPieceModel wp) throw new InvalidOperationException("max_input_chars_per_word applies to WordPiece tokenizers only.");
            wp.MaxInputCharsPerWord = value ?? 100;
        }
    }

    public int? TokenToId(string token) => Pipeline.TokenToId(token);

    public string? IdToToken(int id) => Pipeline.IdToToken(id);

    /// <summary>Tokens of one text without special tokens (tokenizer.tokenize).</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var seq = new List<SeqToken>();
        Pipeline.EncodeSequence(text, seq);
        return seq.Select(t => Pipeline.IdToToken(t.Id) ?? "").ToList();
    }

    public int NumSpecialTokensToAdd(bool pair = false) => Pipeline.NumSpecialTokensToAdd(pair);

    public BatchEncoding Encode(string text, string? pair = null, EncodeOptions? options = null) =>
        EncodeBatch([text], pair == null ? null : [pair], options);

    /// <summary>
    /// tokenizer.encode(text): the input ids alone, with the special tokens unless <paramref name="addSpecialTokens"/>
    /// is false, untruncated (encode's default). The ids <see cref="Encode"/> gives, without building the offsets,
    /// word ids and token strings beside them.
    /// </summary>
    public int[] EncodeIds(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Pipeline.EncodeIds(text, addSpecialTokens).ToArray();
    }

    /// <summary>
    /// <see cref="EncodeIds(string, bool)"/> into <paramref name="destination"/>, with nothing allocated per call; false,
    /// with nothing written, when the ids do not fit.
    /// </summary>
    public bool TryEncodeIds(string text, Span<int> destination, out int written, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = Pipeline.EncodeIds(text, addSpecialTokens);
        written = ids.TryCopyTo(destination) ? ids.Length : 0;
        return written == ids.Length;
    }

    public BatchEncoding EncodeBatch(IReadOnlyList<string> texts, IReadOnlyList<string>? pairs = null, EncodeOptions? options = null)
    {
        var o = options ?? EncodeOptions.Default;
        if (pairs != null && pairs.Count != texts.Count)
            throw FinetuneException.Invalid($"EncodeBatch got {texts.Count} texts but {pairs.Count} pairs");
        int maxLength = o.MaxLength ?? ModelMaxLength;
        var perInput = new Encoding[texts.Count][];
        if (texts.Count == 1) perInput[0] = EncodeOne(texts[0], pairs?[0], o, maxLength);
        else Parallel.For(0, texts.Count, i => perInput[i] = EncodeOne(texts[i], pairs?[i], o, maxLength));
        var rows = new List<Encoding>(texts.Count);
        var mapping = new List<int>(texts.Count);
        for (int i = 0; i < perInput.Length; i++)
        {
            rows.AddRange(perInput[i]);
            for (int k = 0; k < perInput[i].Length; k++) mapping.Add(i);
        }
        // transformers: padding to max_length without a limit anywhere (model_max_length "very large") does not pad.
        bool pad = o.Padding == PaddingStrategy.Longest || (o.Padding == PaddingStrategy.MaxLength && maxLength != int.MaxValue);
        if (pad)
        {
            int target = o.Padding == PaddingStrategy.MaxLength ? maxLength : rows.Count == 0 ? 0 : rows.Max(r => r.Length);
            if (o.PadToMultipleOf is int m && m > 0 && target % m != 0) target += m - target % m;
            var side = o.PaddingSide ?? PaddingSide;
            string padToken = PadToken ?? IdToToken(PadTokenId) ?? "";
            for (int i = 0; i < rows.Count; i++) rows[i] = TokenizerPipeline.Pad(rows[i], target, PadTokenId, padToken, side);
        }
        return new BatchEncoding(rows, mapping.ToArray());
    }

    // Per-thread token lists for EncodeOne, which copies what it keeps into the Encoding arrays before returning.
    [ThreadStatic] private static List<SeqToken>? _seqA, _seqB;

    private static List<SeqToken> SeqList(ref List<SeqToken>? kept)
    {
        var list = kept ??= new List<SeqToken>(256);
        // One megabyte-long text must not pin its list on this thread for good.
        if (list.Capacity > 1 << 16) kept = list = new List<SeqToken>(256);
        list.Clear();
        return list;
    }

    private Encoding[] EncodeOne(string text, string? pair, EncodeOptions o, int maxLength)
    {
        var a = SeqList(ref _seqA);
        Pipeline.EncodeSequence(text, a);
        List<SeqToken>? b = null;
        if (pair != null)
        {
            b = SeqList(ref _seqB);
            Pipeline.EncodeSequence(pair, b);
        }
        int special = o.AddSpecialTokens ? Pipeline.NumSpecialTokensToAdd(pair != null) : 0;
        if (!o.ReturnOverflowingTokens || o.Truncation == TruncationStrategy.None)
        {
            TokenizerPipeline.Truncate(a, b, o.Truncation, maxLength, special);
            return [Pipeline.Build(a, b, o.AddSpecialTokens)];
        }
        var windows = TokenizerPipeline.TruncateWithOverflow(a, b, o.Truncation, maxLength, special, o.Stride);
        var result = new Encoding[windows.Count];
        for (int i = 0; i < result.Length; i++) result[i] = Pipeline.Build(windows[i].A, windows[i].B, o.AddSpecialTokens);
        return result;
    }

    /// <summary>
    /// Ids back to text (tokenizer.decode), optionally without special tokens; <paramref name="cleanUpTokenizationSpaces"/>
    /// overrides the tokenizer's clean_up_tokenization_spaces for this call, as in transformers.
    /// </summary>
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = false, bool? cleanUpTokenizationSpaces = null)
    {
        var specials = new HashSet<int>();
        foreach (var t in Pipeline.Added.Tokens) if (t.Special) specials.Add(t.Id);
        var tokens = new List<string>(ids.Count);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && specials.Contains(id)) continue;
            if (Pipeline.IdToToken(id) is { } tok) tokens.Add(tok);
        }
        string text = Pipeline.Decoder == null ? string.Join(" ", tokens) : string.Concat(Pipeline.Decoder.DecodeChain(tokens));
        return cleanUpTokenizationSpaces ?? Settings.CleanUpTokenizationSpaces ? WordPieceDecoder.CleanupText(text) : text;
    }

    /// <summary>Writes the tokenizer files into <paramref name="dir"/> (tokenizer.json, tokenizer_config.json, special_tokens_map.json, and the legacy files it came from).</summary>
    public void SavePretrained(string dir) => TokenizerSaver.Save(this, dir);
}
