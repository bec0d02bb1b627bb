using System.Text.Json.Nodes;
using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>
/// The ASCII shortcuts (BERT's WordPiece, byte-level BPE) against the general pipeline they stand in for, which the
/// golden tests hold to Hugging Face's ids: ids, offsets and word indices must be the same, on the golden texts and on
/// text mixing what a shortcut handles with what it hands over (non-ASCII, characters the normalizer drops, CJK,
/// combining marks, words over the length limit).
/// </summary>
public class FastPathTests
{
    internal static readonly string[] Mixed =
    [
        "Hello, World! It's 3.14pm -- isn't it?",
        "tabs\tand\nnewlines\r\nand  double  spaces  ",
        "control\u0001chars\u000Bdropped\u007Fhere \u0000 too\u001Fend",
        "café naïve Ünïcödé e\u0301 mixed with ascii",
        "abc中文def 日本語テキスト and 한국어",
        "nbsp\u00A0between\u2003em space\u3000ideographic",
        "emoji 😀👍🏽 and zwj 👨‍👩‍👧 done",
        "<br /><br />This movie was GREAT!!! 10/10 would watch again...",
        "a" + new string('x', 150) + " long word " + new string('y', 100) + " " + new string('z', 101),
        "",
        "   ",
        "\t\n",
        "don't you'll we've I'm they'd she's DON'T",
        "   leading and trailing   ",
        "1234567890 $5.00 50% #hashtag @user a+b=c ~tilde `back` |pipe| ^caret {brace} [bracket] \\slash",
        "\u0085next line\u2028line sep",
        "Straße İstanbul ǅ ΣΑΣ",
        "x\u0301\u0323y and q\u0323\u0301",
        "\uFFFD replacement and \uD800 lone surrogate",
        "unaffable unbelievably antidisestablishmentarianism supercalifragilistic",
    ];

    [SkippableTheory]
    [InlineData("bert-base-uncased")]
    [InlineData("roberta-base")]
    public void ShortcutEqualsTheGeneralPipeline(string model)
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require($"models/{model}"));
        var pipeline = tok.Pipeline;
        Assert.NotNull(FastPath.For(pipeline));
        var texts = new List<string>(Mixed);
        foreach (string line in File.ReadLines(SharedData.Require($"golden/tokenizers/{model}.jsonl")))
        {
            var rec = JsonNode.Parse(line)!.AsObject();
            texts.Add((string)rec["text"]!);
            if ((string?)rec["text_pair"] is { } pair) texts.Add(pair);
        }
        int shortcut = 0;
        foreach (string text in texts)
        {
            // The golden texts and these hold no special-token strings: the whole text is one segment.
            var fast = new List<SeqToken>();
            pipeline.EncodeSequence(text, fast);
            var general = new List<SeqToken>();
            pipeline.EncodeNormalizedRun(text, 0, text.Length, 0, general);
            Assert.True(general.SequenceEqual(fast), $"{model}: the shortcut differs on \"{text}\":\n  general {string.Join(" ", general)}\n  fast    {string.Join(" ", fast)}");
            if (text.All(c => c < 128)) shortcut++;
        }
        Assert.True(shortcut > texts.Count / 2, $"only {shortcut} of {texts.Count} texts are ASCII: the shortcut was hardly exercised");
    }

    [Fact]
    public void BertShortcutSplitsLikeTheGeneralPipelineOnAHandWorkedVocabulary()
    {
        string[] vocab = ["[UNK]", "un", "##aff", "##able", "hello", ",", "!", "world", "##s"];
        var pipeline = new TokenizerPipeline
        {
            Model = new WordPieceModel(vocab, "[UNK]"),
            Normalizer = new BertNormalizer(true, true, true, true),
            PreTokenizer = new BertPreTokenizer(),
        };
        Assert.IsType<BertAsciiPath>(FastPath.For(pipeline));
        var output = new List<SeqToken>();
        pipeline.EncodeSequence("Hello,\tUNAFFABLE worlds!\u0001x", output);
        // hello , un ##aff ##able world ##s ! [UNK]: offsets into the input, one word index per pre-tokenized word.
        Assert.Equal(
            new[] { new SeqToken(4, 0, 5, 0), new SeqToken(5, 5, 6, 1), new SeqToken(1, 7, 9, 2), new SeqToken(2, 9, 12, 2), new SeqToken(3, 12, 16, 2),
                new SeqToken(7, 17, 22, 3), new SeqToken(8, 22, 23, 3), new SeqToken(6, 23, 24, 4), new SeqToken(0, 25, 26, 5) },
            output);
    }
}
