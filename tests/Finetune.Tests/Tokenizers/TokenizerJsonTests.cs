using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Finetune.Tokenizers;
using Xunit.Abstractions;

namespace Finetune.Tests.Tokenizers;

public class TokenizerJsonTests(ITestOutputHelper output)
{
    // The golden README: the Rust BertNormalizer/BertPreTokenizer/WordPiece give the slow tokenizer's ids on these
    // texts, so bert-base-uncased's tokenizer.json must reproduce the golden file too.
    // electra-small's tokenizer.json has the same vocabulary and pipeline (plus truncation/padding defaults that
    // transformers overrides per call), so it must give the same ids too.
    [SkippableTheory]
    [InlineData("bert-base-uncased")]
    [InlineData("electra-small")]
    public void BertTokenizerJsonMatchesGolden(string model)
    {
        string dir = SharedData.Require($"models/{model}");
        var tok = AutoTokenizer.FromPretrained(dir);
        Assert.Contains(tok.Files, f => f.EndsWith("tokenizer.json", StringComparison.Ordinal));
        int total = 0, bad = 0;
        string? first = null;
        foreach (string line in File.ReadLines(SharedData.Require("golden/tokenizers/bert-base-uncased.jsonl")))
        {
            var rec = JsonNode.Parse(line)!.AsObject();
            total++;
            var o = GoldenTests.Options(rec, rec["padding"]?.ToString() == "max_length" ? PaddingStrategy.MaxLength : PaddingStrategy.None);
            var e = tok.Encode((string)rec["text"]!, (string?)rec["text_pair"], o)[0];
            string? why = GoldenTests.Compare(rec, e.InputIds, e.TokenTypeIds, e.AttentionMask, e.Tokens, -1, true);
            if (why != null) { bad++; first ??= why; }
        }
        output.WriteLine($"{model} tokenizer.json: {total - bad}/{total} golden records match");
        Assert.True(bad == 0, $"{bad} of {total} differ; first: {first}");
    }

    private static IEnumerable<string> Tweets(string file, int column, int max)
    {
        int n = 0;
        foreach (string line in File.ReadLines(file).Skip(1))
        {
            var cols = line.Split('\t');
            if (cols.Length <= column || cols[column].Length == 0) continue;
            yield return cols[column];
            if (++n == max) yield break;
        }
    }

    [SkippableTheory]
    [InlineData("datasets/emoevent_es/emoevent_es.csv", 1)]
    [InlineData("datasets/catalonia_independence_es/spanish_test.csv", 1)]
    public void CamembertRoundTripsSpanishAndCatalanText(string dataset, int column)
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require("models/camembert-base"));
        int checkedTexts = 0, withUnk = 0;
        var collapse = new Regex(@"\s{2,}|[\n\r\t]");
        foreach (string text in Tweets(SharedData.Require(dataset), column, 1500))
        {
            var e = tok.Encode(text)[0];
            Assert.Equal(5, e.InputIds[0]);
            Assert.Equal(6, e.InputIds[^1]);
            // What the pipeline's own definition says decode(encode(x)) is: the Replace + Strip(right) normalizer
            // applied, spaces kept as ▁ and restored, the prepended ▁ dropped again.
            string expected = collapse.Replace(text, " ").TrimEnd();
            if (expected.StartsWith(' ')) expected = expected[1..];
            // (without transformers' English clean-up of spaces before punctuation, which 4.35 applies by default)
            string decoded = tok.Decode(e.InputIds, skipSpecialTokens: true, cleanUpTokenizationSpaces: false);
            if (decoded.Contains("<unk>"))
            {
                // CamemBERT's French vocabulary lacks some Spanish letters (á, ò): each <unk> stands for a non-empty stretch.
                withUnk++;
                string pattern = "^" + string.Join("(.+?)", decoded.Split("<unk>").Select(Regex.Escape)) + "$";
                Assert.Matches(new Regex(pattern, RegexOptions.Singleline), expected);
            }
            else Assert.Equal(expected, decoded);
            checkedTexts++;
        }
        output.WriteLine($"{dataset}: {checkedTexts} texts round-trip ({withUnk} of them with <unk> standing for unknown stretches)");
        Assert.True(checkedTexts >= 1000, $"only {checkedTexts} texts read from {dataset}");
    }

    [SkippableFact]
    public void CamembertHandWorkedIds()
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require("models/camembert-base"));
        // Special tokens are found in the raw text before normalization; the template is <s> A </s>.
        var e = tok.Encode("<mask>")[0];
        Assert.Equal(new[] { 5, tok.TokenToId("<mask>")!.Value, 6 }, e.InputIds);
        // Metaspace: every word starts with ▁ (prepend_scheme always) and the Viterbi segmentation uses vocabulary pieces.
        var tokens = tok.Tokenize("Hola  mundo\t!");
        Assert.All(tokens, t => Assert.NotNull(tok.TokenToId(t)));
        Assert.StartsWith("\u2581", tokens[0]);
        Assert.Equal("Hola mundo !", tok.Decode(tok.Encode("Hola  mundo\t!")[0].InputIds, true, cleanUpTokenizationSpaces: false));
        Assert.Equal("Hola mundo!", tok.Decode(tok.Encode("Hola  mundo\t!")[0].InputIds, true)); // 4.35's default clean-up
        // Empty and whitespace-only texts (the latter stripped by the normalizer) hold no tokens at all.
        Assert.Equal(new[] { 5, 6 }, tok.Encode("")[0].InputIds);
        Assert.Equal(new[] { 5, 6 }, tok.Encode(" \t  ")[0].InputIds);
        // Pairs: <s> A </s></s> B </s>, all type ids 0.
        var p = tok.Encode("a", "b")[0];
        Assert.Equal(new[] { 5, 6, 6, 6 }, new[] { p.InputIds[0], p.InputIds[2], p.InputIds[3], p.InputIds[^1] });
        Assert.All(p.TokenTypeIds, t => Assert.Equal(0, t));
    }

    [SkippableFact]
    public void AddedTokensMatchRawOrNormalizedText()
    {
        var json = JsonNode.Parse(File.ReadAllText(SharedData.Require("models/bert-base-uncased/tokenizer.json")))!.AsObject();
        var added = json["added_tokens"]!.AsArray();
        added.Add(new JsonObject { ["id"] = 30522, ["content"] = "MyToken", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = true, ["special"] = false });
        added.Add(new JsonObject { ["id"] = 30523, ["content"] = "RawOne", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = false });
        added.Add(new JsonObject { ["id"] = 30524, ["content"] = "<w>", ["single_word"] = true, ["lstrip"] = true, ["rstrip"] = true, ["normalized"] = false, ["special"] = true });
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.json"), json.ToJsonString());
        var tok = AutoTokenizer.FromPretrained(dir.Path);
        var none = new EncodeOptions { AddSpecialTokens = false };
        // normalized=true: matched after lower-casing, whatever the case in the input
        Assert.Equal(new[] { 2360, 30522, 1998, 30522 }, tok.Encode("say MYTOKEN and mytoken", options: none)[0].InputIds);
        // normalized=false: only the exact raw spelling
        var raw = tok.Encode("RawOne rawone", options: none)[0];
        Assert.Equal(30523, raw.InputIds[0]);
        Assert.DoesNotContain(30523, raw.InputIds.Skip(1));
        // single_word: not inside a word; lstrip/rstrip swallow the spaces around it
        var w = tok.Encode("a <w> b x<w>y", options: none)[0];
        Assert.Equal(1, w.InputIds.Count(id => id == 30524));
        Assert.Equal((1, 6), w.Offsets[1]);
        // decoding gives an added token its own content
        Assert.Equal("say MyToken and MyToken", tok.Decode(tok.Encode("say MYTOKEN and mytoken", options: none)[0].InputIds));
    }
}
