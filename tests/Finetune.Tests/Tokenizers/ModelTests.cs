using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>The models on tiny vocabularies whose results are worked out by hand.</summary>
public class ModelTests
{
    private static string[] Run(TokenizerModel m, string word)
    {
        var output = new List<RawToken>();
        m.Tokenize(word, output);
        return output.Select(t => m.IdToToken(t.Id) + "@" + word[t.Start..t.End]).ToArray();
    }

    [Fact]
    public void UnigramViterbiPicksTheBestSegmentationAndFusesUnknowns()
    {
        var m = new UnigramModel(["<unk>", "a", "b", "ab"], [0, -1, -1, -1.5], unkId: 0);
        Assert.Equal(new[] { "ab@ab" }, Run(m, "ab"));                       // -1.5 beats -1 + -1
        Assert.Equal(new[] { "ab@ab", "<unk>@cc", "a@a" }, Run(m, "abcca")); // c: unknown at min − 10, two fused
        var noFuse = new UnigramModel(["<unk>", "a", "b", "ab"], [0, -1, -1, -1.5], unkId: 0, fuseUnk: false);
        Assert.Equal(new[] { "<unk>@c", "<unk>@c" }, Run(noFuse, "cc"));
        var bytes = new UnigramModel(["<unk>", "a", "<0xC3>", "<0xA9>"], [0, -1, 0, 0], unkId: 0, byteFallback: true);
        Assert.Equal(new[] { "a@a", "<0xC3>@é", "<0xA9>@é" }, Run(bytes, "aé"));
    }

    [Fact]
    public void BpeMergesByRank()
    {
        string[] vocab = ["a", "b", "c", "ab", "bc", "abc"];
        Assert.Equal(new[] { "abc@abc" }, Run(new BpeModel(vocab, [("a", "b"), ("ab", "c"), ("b", "c")]), "abc"));
        Assert.Equal(new[] { "a@a", "bc@bc" }, Run(new BpeModel(vocab, [("b", "c"), ("a", "b"), ("ab", "c")]), "abc"));
        // unknown characters: dropped without an unk token, fused when asked
        Assert.Equal(new[] { "a@a" }, Run(new BpeModel(vocab, []), "ax"));
        string[] withUnk = ["<unk>", "a"];
        Assert.Equal(new[] { "a@a", "<unk>@xy" }, Run(new BpeModel(withUnk, [], unkToken: "<unk>", fuseUnk: true), "axy"));
    }

    [Fact]
    public void BpeContinuingSubwordPrefixAndSuffix()
    {
        string[] vocab = ["h", "##i", "hi", "h</w>", "i</w>", "hi</w>"];
        Assert.Equal(new[] { "hi@hi" }, Run(new BpeModel(vocab, [("h", "##i")], continuingSubwordPrefix: "##"), "hi"));
        Assert.Equal(new[] { "hi</w>@hi" }, Run(new BpeModel(vocab, [("h", "i</w>")], endOfWordSuffix: "</w>"), "hi"));
    }

    [Fact]
    public void WordPieceGreedyLongestMatch()
    {
        string[] vocab = ["[UNK]", "un", "##aff", "##able", "unaff", "##a"];
        var m = new WordPieceModel(vocab, "[UNK]");
        Assert.Equal(new[] { "unaff@unaff", "##able@able" }, Run(m, "unaffable"));
        Assert.Equal(new[] { "[UNK]@unaffx" }, Run(m, "unaffx"));              // any unmatched rest: the whole word is [UNK]
        Assert.Equal(new[] { "[UNK]@unaffable" }, Run(new WordPieceModel(vocab, "[UNK]", maxInputCharsPerWord: 8), "unaffable"));
    }

    [Fact]
    public void SpanVocabFindsEachKeyWithItsFirstIdAndNothingElse()
    {
        var v = new SpanVocab([("a", 0), ("ab", 1), ("a", 2), ("", 3), ("##a", 4), ("abc", 5)]);
        Assert.Equal(0, v.Find("a"));   // a repeated key keeps its first id, as Dictionary.TryAdd
        Assert.Equal(1, v.Find("ab"));
        Assert.Equal(3, v.Find(""));
        Assert.Equal(4, v.Find("##a"));
        Assert.Equal(5, v.Find("abc"));
        Assert.Equal(-1, v.Find("b"));
        Assert.Equal(-1, v.Find("abcd"));
        Assert.Equal(-1, v.Find("ba"));
        // The running hash of a prefix, built character by character, finds the same entry.
        uint h = 0;
        foreach (char c in "ab") h = SpanVocab.Extend(h, c);
        Assert.Equal(1, v.Find("abc".AsSpan(0, 2), h));
    }

    [SkippableFact]
    public void SpanVocabAgreesWithADictionaryOnBertsVocabulary()
    {
        string[] tokens = File.ReadAllLines(SharedData.Require("models/bert-base-uncased/vocab.txt"));
        var dict = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) dict.TryAdd(tokens[i], i);
        var v = new SpanVocab(tokens.Select((t, i) => (t, i)).ToList());
        foreach (string t in tokens) Assert.Equal(dict[t], v.Find(t));
        foreach (string t in tokens) Assert.Equal(dict.TryGetValue(t + "\u00e9", out int id) ? id : -1, v.Find(t + "\u00e9"));
    }
}
