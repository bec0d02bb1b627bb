using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>Hand-worked encodings with bert-base-uncased's vocabulary (hello 7592, "," 1010, world 2088, "!" 999).</summary>
public class EncodeApiTests
{
    private static PreTrainedTokenizer Bert() => AutoTokenizer.FromPretrained(SharedData.Require("models/bert-base-uncased"));

    [SkippableFact]
    public void SingleSequenceArrays()
    {
        var e = Bert().Encode("Hello, world!")[0];
        Assert.Equal(new[] { 101, 7592, 1010, 2088, 999, 102 }, e.InputIds);
        Assert.Equal(new[] { "[CLS]", "hello", ",", "world", "!", "[SEP]" }, e.Tokens);
        Assert.Equal(new[] { 1, 0, 0, 0, 0, 1 }, e.SpecialTokensMask);
        Assert.Equal(new int?[] { null, 0, 1, 2, 3, null }, e.WordIds);
        Assert.Equal(new[] { (0, 0), (0, 5), (5, 6), (7, 12), (12, 13), (0, 0) }, e.Offsets);
        Assert.All(e.AttentionMask, m => Assert.Equal(1, m));
    }

    [SkippableFact]
    public void PairTypeIdsAndOffsetsIntoEachText()
    {
        var e = Bert().Encode("Hello", "world!")[0];
        Assert.Equal(new[] { 101, 7592, 102, 2088, 999, 102 }, e.InputIds);
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1 }, e.TokenTypeIds);
        Assert.Equal((0, 5), e.Offsets[3]);
        Assert.Equal(new int?[] { null, 0, null, 1, 1, null }, e.SequenceIds);
    }

    [SkippableFact]
    public void PaddingLeftAndMultiple()
    {
        var tok = Bert();
        var left = tok.Encode("Hello", options: new EncodeOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 5, PaddingSide = PaddingSide.Left })[0];
        Assert.Equal(new[] { 0, 0, 101, 7592, 102 }, left.InputIds);
        Assert.Equal(new[] { 0, 0, 1, 1, 1 }, left.AttentionMask);
        Assert.Equal(new[] { "[PAD]", "[PAD]", "[CLS]", "hello", "[SEP]" }, left.Tokens);
        var batch = tok.EncodeBatch(["Hello", "Hello, world!"], options: new EncodeOptions { Padding = PaddingStrategy.Longest, PadToMultipleOf = 4 });
        Assert.Equal(8, batch[0].Length);
        Assert.Equal(8, batch[1].Length);
        Assert.Equal(new[] { 1, 1, 1, 0, 0, 0, 0, 0 }, batch[0].AttentionMask);
        // bert-base-uncased's model_max_length is transformers' "very large": max_length padding without a length does nothing
        Assert.Equal(3, tok.Encode("Hello", options: new EncodeOptions { Padding = PaddingStrategy.MaxLength })[0].Length);
    }

    [SkippableFact]
    public void TruncationLimitsAndErrors()
    {
        var tok = Bert();
        var t = tok.Encode("Hello, world!", options: new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 4 })[0];
        Assert.Equal(new[] { 101, 7592, 1010, 102 }, t.InputIds);
        // only_first cannot remove 3 tokens from a 1-token first sequence
        Assert.Throws<FinetuneException>(() => tok.Encode("Hello", "Hello, world!", new EncodeOptions { Truncation = TruncationStrategy.OnlyFirst, MaxLength = 5 }));
        var none = tok.Encode("Hello, world!", options: new EncodeOptions { AddSpecialTokens = false })[0];
        Assert.Equal(new[] { 7592, 1010, 2088, 999 }, none.InputIds);
    }

    [SkippableFact]
    public void OverflowingTokensComeBackAsStridedWindows()
    {
        var tok = Bert();
        var o = new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 5, Stride = 1, ReturnOverflowingTokens = true };
        var batch = tok.EncodeBatch(["a b c d e f g", "x"], options: o);
        Assert.Equal(new[] { "[CLS] a b c [SEP]", "[CLS] c d e [SEP]", "[CLS] e f g [SEP]", "[CLS] x [SEP]" }, batch.Rows.Select(r => string.Join(" ", r.Tokens)));
        Assert.Equal(new[] { 0, 0, 0, 1 }, batch.OverflowToSampleMapping);
        var pair = tok.Encode("q", "a b c d e", new EncodeOptions { Truncation = TruncationStrategy.OnlySecond, MaxLength = 7, Stride = 1, ReturnOverflowingTokens = true });
        Assert.Equal(new[] { "[CLS] q [SEP] a b c [SEP]", "[CLS] q [SEP] c d e [SEP]" }, pair.Rows.Select(r => string.Join(" ", r.Tokens)));
    }

    [SkippableFact]
    public void DecodeSkipsSpecialTokensAndCleansUp()
    {
        var tok = Bert();
        var ids = tok.Encode("Hello, world! Tokenization")[0].InputIds;
        Assert.Equal("hello, world! tokenization", tok.Decode(ids, skipSpecialTokens: true));
        Assert.StartsWith("[CLS] hello", tok.Decode(ids));
    }

    [SkippableFact]
    public void AlbertDecodeJoinsPiecesAtTheSpaceMarker()
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require("models/albert-base-v2"));
        var ids = tok.Encode("Hello,   World! I do not know.")[0].InputIds;
        // lower-cased and space-collapsed by the slow ALBERT rules; clean_up_tokenization_spaces (true in its config) applied
        Assert.Equal("hello, world! i don't know.", tok.Decode(ids, skipSpecialTokens: true));
    }

    [SkippableFact]
    public void RobertaByteLevelRoundTrip()
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require("models/roberta-base"));
        string longWord = string.Concat(Enumerable.Range(0, 20000).Select(i => (char)('a' + i * 7 % 26)));
        foreach (string text in new[] { "Hello world — ünïcode 😀 and  two  spaces\n", "  leading", "日本語のテキスト", longWord })
            Assert.Equal(text, tok.Decode(tok.Encode(text)[0].InputIds, skipSpecialTokens: true));
    }

    [SkippableFact]
    public void RobertaOffsetsLeaveOutTheSpaceMarker()
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require("models/roberta-base"));
        var e = tok.Encode("Hello world")[0];
        Assert.Equal(new[] { "<s>", "Hello", "\u0120world", "</s>" }, e.Tokens);
        Assert.Equal(new[] { (0, 0), (0, 5), (6, 11), (0, 0) }, e.Offsets);
    }

    [SkippableFact]
    public void SettingsFromTokenizerConfig()
    {
        Assert.Equal(int.MaxValue, Bert().ModelMaxLength); // 1e30 in the file: transformers' "no limit"
        var albert = AutoTokenizer.FromPretrained(SharedData.Require("models/albert-base-v2"));
        Assert.Equal(512, albert.ModelMaxLength);
        Assert.Equal("<pad>", albert.PadToken);
        Assert.Equal(0, albert.PadTokenId);
    }

    [SkippableTheory]
    [InlineData("models/bert-base-uncased")]
    [InlineData("models/albert-base-v2")]
    [InlineData("models/camembert-base")]
    [InlineData("models/roberta-base")]
    public void SavePretrainedRoundTrips(string model)
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require(model));
        using var dir = new TempDir();
        tok.SavePretrained(dir.Path);
        var again = AutoTokenizer.FromPretrained(dir.Path);
        const string text = "Saving and loading again gives the same ids, 1,234 times.";
        Assert.Equal(tok.Encode(text, "and pairs")[0].InputIds, again.Encode(text, "and pairs")[0].InputIds);
        Assert.Equal(tok.ModelMaxLength, again.ModelMaxLength);
    }
}
