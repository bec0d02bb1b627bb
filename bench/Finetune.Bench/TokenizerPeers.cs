using Microsoft.ML.Tokenizers;

namespace Finetune.Bench;

/// <summary>
/// A .NET tokenizer library measured beside ours by the tokenize suite. <see cref="Count"/> encodes one text the
/// way a user of that library would (its fastest documented call) and returns the number of tokens without
/// special tokens; <see cref="Ids"/> gives the ids for the comparison with ours. Both are thread-safe.
/// </summary>
internal sealed record TokenizerPeer(string Name, Func<string, int> Count, Func<string, int[]> Ids)
{
    public static readonly string[] Names = ["mltokenizers", "fastbert"];

    /// <summary>The peer <paramref name="name"/> for the model in <paramref name="modelDir"/>, or null when that library has no tokenizer of its kind.</summary>
    public static TokenizerPeer? Create(string name, string modelKind, string modelDir) => (name, modelKind) switch
    {
        ("mltokenizers", "wordpiece") => MlBert(modelDir),
        ("mltokenizers", "bytebpe") => MlCodeGen(modelDir),
        ("fastbert", "wordpiece") => FastBert(modelDir),
        _ => null,
    };

    /// <summary>Microsoft.ML.Tokenizers' BertTokenizer with bert-base-uncased's settings (lower case, accents stripped, CJK split).</summary>
    private static TokenizerPeer MlBert(string dir)
    {
        var tok = BertTokenizer.Create(Path.Combine(dir, "vocab.txt"), new BertOptions
        {
            LowerCaseBeforeTokenization = true,
            RemoveNonSpacingMarks = true,
            ApplyBasicTokenization = true,
            IndividuallyTokenizeCjk = true,
        });
        return new("Microsoft.ML.Tokenizers BertTokenizer", t => tok.EncodeToIds(t, addSpecialTokens: false).Count, t => [.. tok.EncodeToIds(t, addSpecialTokens: false)]);
    }

    /// <summary>Microsoft.ML.Tokenizers' byte-level BPE (CodeGenTokenizer, GPT-2's scheme) on roberta-base's vocab.json and merges.txt.</summary>
    private static TokenizerPeer MlCodeGen(string dir)
    {
        using var vocab = File.OpenRead(Path.Combine(dir, "vocab.json"));
        using var merges = File.OpenRead(Path.Combine(dir, "merges.txt"));
        var tok = CodeGenTokenizer.Create(vocab, merges, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
        return new("Microsoft.ML.Tokenizers CodeGenTokenizer", t => tok.EncodeToIds(t).Count, t => [.. tok.EncodeToIds(t)]);
    }

    [ThreadStatic] private static long[]? _ids, _mask, _types;

    /// <summary>
    /// FastBertTokenizer from vocab.txt with lower-casing (its quick-start; that path also strips accents, as
    /// bert-base-uncased does, while its tokenizer.json loader leaves them and so maps "cliché" to [UNK]), through
    /// its allocation-free span call (it adds [CLS] and [SEP]).
    /// </summary>
    private static TokenizerPeer FastBert(string dir)
    {
        var tok = new FastBertTokenizer.BertTokenizer();
        tok.LoadVocabularyAsync(Path.Combine(dir, "vocab.txt"), true).GetAwaiter().GetResult();
        const int Capacity = 1 << 16; // far above any IMDB review, so nothing is truncated
        int Encode(string text)
        {
            _ids ??= new long[Capacity];
            _mask ??= new long[Capacity];
            _types ??= new long[Capacity];
            return tok.Encode(text, _ids, _mask, _types, null);
        }
        return new("FastBertTokenizer", t => Encode(t) - 2, t =>
        {
            int n = Encode(t);
            var ids = new int[n - 2];
            for (int i = 0; i < ids.Length; i++) ids[i] = (int)_ids![i + 1];
            return ids;
        });
    }
}
