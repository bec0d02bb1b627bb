using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Tests.Data;
using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>
/// The ids-only encode (tokenizer.encode) against Hugging Face's ids in the golden files and against the full
/// <see cref="PreTrainedTokenizer.Encode"/>, which the golden tests hold to the same reference, on text that moves
/// between the ASCII shortcut and the general pipeline inside one stretch.
/// </summary>
public class EncodeIdsTests
{
    [SkippableTheory]
    [InlineData("bert-base-uncased", "bert-base-uncased")]
    [InlineData("roberta-base", "roberta-base")]
    [InlineData("albert-base-v2", "albert-base-v2")]
    [InlineData("all-MiniLM-L6-v2", "bert-base-uncased")]
    public void UntruncatedSinglesMatchTheGoldenIds(string model, string golden)
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require($"models/{model}"));
        int compared = 0;
        foreach (string line in File.ReadLines(SharedData.Require($"golden/tokenizers/{golden}.jsonl")))
        {
            var rec = JsonNode.Parse(line)!.AsObject();
            // encode's defaults: one text, no truncation, no padding.
            if (rec["text_pair"] != null || rec["truncation"]!.GetValueKind() != JsonValueKind.False || rec["padding"]!.GetValueKind() != JsonValueKind.False) continue;
            int[] expected = rec["input_ids"]!.AsArray().Select(n => (int)n!).ToArray();
            int[] ids = tok.EncodeIds((string)rec["text"]!, addSpecialTokens: (bool)rec["add_special_tokens"]!);
            Assert.True(expected.AsSpan().SequenceEqual(ids), $"{golden}: \"{rec["text"]}\"\n  expected {string.Join(" ", expected)}\n  got      {string.Join(" ", ids)}");
            compared++;
        }
        Assert.True(compared > 1000, $"only {compared} golden singles compared");
    }

    private static readonly string[] Switching =
    [
        "Hello,café! then plain ascii",
        "it's-naïve: a stretch that turns general after punctuation",
        "[CLS] special [SEP] tokens [MASK] in the raw text [PAD]",
        "<s> roberta's </s> specials <mask> too",
        "x\u0001y dropped control, then ascii",
        "trailing non-ascii é",
    ];

    [SkippableTheory]
    [InlineData("bert-base-uncased")]
    [InlineData("roberta-base")]
    [InlineData("camembert-base")]
    public void EqualTheFullEncodeOnImdbAndMixedText(string model)
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require($"models/{model}"));
        var texts = new List<string>(FastPathTests.Mixed);
        texts.AddRange(Switching);
        texts.AddRange(SharedDatasets.Get("imdb")["test"].GetStrings("text").Take(400).Select(t => t ?? ""));
        foreach (bool special in new[] { true, false })
        {
            var options = new EncodeOptions { AddSpecialTokens = special };
            foreach (string text in texts)
            {
                int[] expected = tok.Encode(text, options: options)[0].InputIds;
                int[] ids = tok.EncodeIds(text, special);
                Assert.True(expected.AsSpan().SequenceEqual(ids), $"{model} (special tokens {special}): \"{text}\"\n  Encode    {string.Join(" ", expected)}\n  EncodeIds {string.Join(" ", ids)}");
            }
        }
    }

    [Fact]
    public void HandWorkedVocabularyWithAndWithoutTheWordLengthLimit()
    {
        string[] vocab = ["[UNK]", "un", "##aff", "##able", "hello", ",", "!", "world", "##s"];
        var model = new WordPieceModel(vocab, "[UNK]");
        var pipeline = new TokenizerPipeline
        {
            Model = model,
            Normalizer = new BertNormalizer(true, true, true, true),
            PreTokenizer = new BertPreTokenizer(),
        };
        const string Text = "Hello,\tUNAFFABLE worlds!\u0001x";
        var ids = new List<int>();
        pipeline.EncodeIds(Text, false, ids);
        // hello , un ##aff ##able world ##s ! [UNK] (the control character is dropped, "x" is not in the vocabulary).
        Assert.Equal([4, 5, 1, 2, 3, 7, 8, 6, 0], ids);

        // Words over four characters become [UNK] whole, even "hello", which is in the vocabulary.
        model.MaxInputCharsPerWord = 4;
        ids.Clear();
        pipeline.EncodeIds(Text, false, ids);
        Assert.Equal([0, 5, 0, 0, 6, 0], ids);
    }

    [SkippableFact]
    public void TryEncodeIdsFillsAnExactDestinationAndRefusesAShortOne()
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require("models/bert-base-uncased"));
        const string Text = "The movie was great, wasn't it?";
        int[] expected = tok.EncodeIds(Text);
        // [CLS] the movie was great , wasn ' t it ? [SEP]
        Assert.Equal(12, expected.Length);
        Assert.Equal(101, expected[0]);
        Assert.Equal(102, expected[^1]);

        var exact = new int[expected.Length];
        Assert.True(tok.TryEncodeIds(Text, exact, out int written));
        Assert.Equal(expected.Length, written);
        Assert.Equal(expected, exact);

        var shorter = new int[expected.Length - 1];
        Assert.False(tok.TryEncodeIds(Text, shorter, out written));
        Assert.Equal(0, written);
        Assert.All(shorter, id => Assert.Equal(0, id));
    }
}
