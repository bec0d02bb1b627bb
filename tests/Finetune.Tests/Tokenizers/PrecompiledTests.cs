using System.Text.Json.Nodes;
using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>
/// The Precompiled normalizer on ALBERT's nmt_nfkc charsmap, with results worked out from the format's
/// definition: the charsmap holds NFKC plus SentencePiece's NMT rules (control characters removed; tab,
/// zero-width and other odd spaces, BOM and U+FFFD become a space), and the Rust normalizer looks up whole
/// graphemes shorter than 6 UTF-8 bytes, otherwise each character on its own.
/// </summary>
public class PrecompiledTests
{
    private static PrecompiledCharsMap AlbertMap() =>
        new(SentencePieceProto.Load(SharedData.Require("models/albert-base-v2/spiece.model")).PrecompiledCharsmap!, "spiece.model");

    private static string Run(Normalizer n, string s)
    {
        var t = new NormalizedText();
        t.Reset(s, 0, s.Length);
        n.Normalize(t);
        return t.ToString();
    }

    [SkippableTheory]
    [InlineData("\uFF21\uFF22\uFF23", "ABC")]          // fullwidth letters: NFKC
    [InlineData("\uFB01ne", "fine")]                   // ligature fi: NFKC
    [InlineData("\u2460", "1")]                        // circled digit one: NFKC
    [InlineData("a\tb", "a b")]                        // tab → space
    [InlineData("a\u200Bb", "a b")]                    // zero-width space → space
    [InlineData("a\uFEFFb", "a b")]                    // BOM → space
    [InlineData("a\u0001b\u007Fc", "abc")]             // control characters removed
    [InlineData("plain ascii stays", "plain ascii stays")]
    [InlineData("e\u0301", "\u00E9")]                  // one grapheme, 3 bytes: NFC composition
    [InlineData("\uFF76\uFF9E", "\u30AB\u3099")]       // halfwidth KA + voiced mark: one 6-byte grapheme, so char by char
    public void RustPrecompiledNormalizer(string input, string expected) =>
        Assert.Equal(expected, Run(new PrecompiledNormalizer(AlbertMap()), input));

    [SkippableFact]
    public void SentencePieceNormalizerCollapsesSpacesAndEscapes()
    {
        var n = new SentencePieceNormalizer(AlbertMap(), addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true);
        // leading/trailing spaces dropped, inner runs collapsed, a dummy ▁ prefix, spaces as ▁; U+3000 is NFKC space.
        Assert.Equal("\u2581a\u2581b\u2581c", Run(n, "  a \u3000 b\t\tc  "));
        Assert.Equal("", Run(n, " \t "));
    }

    [SkippableFact]
    public void PrecompiledLoadsFromTokenizerJson()
    {
        string spiece = SharedData.Require("models/albert-base-v2/spiece.model");
        var blob = SentencePieceProto.Load(spiece).PrecompiledCharsmap!;
        using var dir = new TempDir();
        var json = new JsonObject
        {
            ["normalizer"] = new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = Convert.ToBase64String(blob) },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "WhitespaceSplit" },
            ["model"] = new JsonObject { ["type"] = "WordLevel", ["unk_token"] = "<unk>", ["vocab"] = new JsonObject { ["<unk>"] = 0, ["ABC"] = 1, ["1"] = 2 } },
        };
        File.WriteAllText(dir.File("tokenizer.json"), json.ToJsonString());
        var tok = AutoTokenizer.FromPretrained(dir.Path);
        Assert.Equal(new[] { 1, 2, 0 }, tok.Encode("\uFF21\uFF22\uFF23 \u2460 x", options: new EncodeOptions { AddSpecialTokens = false })[0].InputIds);
    }
}
