using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>Unicode normal forms on the examples of UAX #15 and the Unicode standard (decomposition, reordering, composition, Hangul).</summary>
public class UnicodeNormalizationTests
{
    private static string Run(Normalizer n, string s)
    {
        var t = new NormalizedText();
        t.Reset(s, 0, s.Length);
        n.Normalize(t);
        return t.ToString();
    }

    [Theory]
    [InlineData("NFC", "e\u0301", "\u00E9")]
    [InlineData("NFD", "\u00E9", "e\u0301")]
    [InlineData("NFKC", "\uFB01", "fi")]
    [InlineData("NFC", "\u1100\u1161\u11A8", "\uAC01")]          // Hangul L V T → syllable
    [InlineData("NFD", "\uAC01", "\u1100\u1161\u11A8")]
    [InlineData("NFC", "a\u0307\u0323", "\u1EA1\u0307")]         // marks reordered by combining class, then composed
    [InlineData("NFKD", "\u2460\u00BD", "11\u20442")]            // circled one, one half
    [InlineData("NFC", "A\u030A\u0301", "\u01FA")]               // composition continues through the composite
    [InlineData("NFC", "\u212B", "\u00C5")]                      // angstrom sign is a singleton decomposition
    [InlineData("NFKC", "\u1E9B\u0323", "\u1E69")]               // UAX #15's long s with dots
    public void NormalForms(string form, string input, string expected)
    {
        var f = form switch { "NFC" => NormalForm.Nfc, "NFD" => NormalForm.Nfd, "NFKC" => NormalForm.Nfkc, _ => NormalForm.Nfkd };
        Assert.Equal(expected, Run(new UnicodeNormalizer(f), input));
    }

    [Theory]
    [InlineData("\u0130stanbul", "i\u0307stanbul")]   // full lower-case mapping of dotted capital I (two code points)
    [InlineData("\u03A3\u0391\u03A3", "\u03C3\u03B1\u03C3")] // context-free: no final sigma, as Rust's char::to_lowercase
    [InlineData("\u00C9COLE", "\u00E9cole")]
    public void Lowercase(string input, string expected) => Assert.Equal(expected, Run(new LowercaseNormalizer(), input));

    [Fact]
    public void BertNormalizerStripsAccentsBeforeLowercasing()
    {
        // NFD + drop Mn first, then lower-case: İ loses its dot and becomes plain i (lower-casing first would keep U+0307 to strip anyway).
        Assert.Equal("istanbul cafe", Run(new BertNormalizer(true, true, true, true), "\u0130stanbul Caf\u00E9"));
        // clean text: controls (incl. the Cf zero-width space) and U+FFFD removed, whitespace → space; CJK padded with spaces
        Assert.Equal("a b \u4E2D c", Run(new BertNormalizer(true, true, false, false), "a\u0000\tb\uFFFD\u4E2D\u200Bc"));
    }
}
