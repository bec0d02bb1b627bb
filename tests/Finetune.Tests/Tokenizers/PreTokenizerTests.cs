using System.Text.RegularExpressions;
using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>Pre-tokenizers on the examples the tokenizers documentation gives for each behaviour.</summary>
public class PreTokenizerTests
{
    private static string[] Split(PreTokenizer p, string s, bool first = true)
    {
        var t = new NormalizedText();
        t.Reset(s, 0, s.Length);
        var pieces = new List<Piece> { new(0, t.Length) };
        p.PreTokenize(t, pieces, first);
        return pieces.Select(x => t.Text[x.Start..x.End].ToString()).ToArray();
    }

    [Theory]
    [InlineData("Removed", "the|final|countdown")]
    [InlineData("Isolated", "the|-|final|-|-|countdown")]
    [InlineData("MergedWithPrevious", "the-|final-|-|countdown")]
    [InlineData("MergedWithNext", "the|-final|-|-countdown")]
    [InlineData("Contiguous", "the|-|final|--|countdown")]
    public void SplitBehaviors(string behavior, string expected) =>
        Assert.Equal(expected.Split('|'), Split(new SplitPreTokenizer(new Regex("-"), Enum.Parse<SplitBehavior>(behavior), false), "the-final--countdown"));

    [Fact]
    public void BertSplitsWhitespaceAndEachPunctuation() =>
        Assert.Equal(new[] { "Hey", "friend", "!", "!", "How", "are", "you", "?" }, Split(new BertPreTokenizer(), "Hey friend!!  How are you?"));

    [Fact]
    public void WhitespaceKeepsPunctuationRuns() =>
        Assert.Equal(new[] { "Hey", "friend", "!!", "How", "are", "you", "?" }, Split(new WhitespacePreTokenizer(), "Hey friend!!  How are you?"));

    [Fact]
    public void DigitsIndividualOrContiguous()
    {
        Assert.Equal(new[] { "Call ", "1", "2", "3", " please" }, Split(new DigitsPreTokenizer(true), "Call 123 please"));
        Assert.Equal(new[] { "Call ", "123", " please" }, Split(new DigitsPreTokenizer(false), "Call 123 please"));
    }

    [Fact]
    public void MetaspaceReplacesPrependsAndSplits()
    {
        Assert.Equal(new[] { "\u2581Hey", "\u2581friend!" }, Split(new MetaspacePreTokenizer('\u2581', "always", true), "Hey friend!"));
        Assert.Equal(new[] { "Hey\u2581friend!" }, Split(new MetaspacePreTokenizer('\u2581', "never", false), "Hey friend!"));
        Assert.Equal(new[] { "Hey", "\u2581friend!" }, Split(new MetaspacePreTokenizer('\u2581', "first", true), "Hey friend!", first: false));
    }

    [Fact]
    public void ByteLevelGpt2Pattern()
    {
        // contractions, ' ?' prefixes, a whitespace run leaving its last space to the next word, bytes mapped to Ġ/Ċ
        Assert.Equal(new[] { "Hello", "Ġworld", "'s", "Ġ", "Ġ2024", "!!", "Ċ" }, Split(new ByteLevelPreTokenizer(false, true), "Hello world's  2024!!\n"));
        Assert.Equal(new[] { "Ġhi" }, Split(new ByteLevelPreTokenizer(true, true), "hi"));
    }
}
