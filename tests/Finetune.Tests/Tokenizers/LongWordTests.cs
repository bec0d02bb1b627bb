using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>
/// Words far longer than real text has: the limits tokenizers applies (WordPiece's max_input_chars_per_word, none
/// for BPE), the heap merge against the plain "lowest rank, leftmost first" loop, and megabyte words finishing.
/// </summary>
public class LongWordTests
{
    // Generous: a regression back to quadratic merging takes hours on these inputs, so it fails here instead of hanging.
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);

    private static T Bounded<T>(Func<T> work, string what)
    {
        var task = Task.Run(work);
        Assert.True(task.Wait(Bound), $"{what} did not finish within {Bound.TotalMinutes} minutes");
        return task.Result;
    }

    private static string[] Run(TokenizerModel m, string word)
    {
        var output = new List<RawToken>();
        m.Tokenize(word, output);
        return output.Select(t => m.IdToToken(t.Id) + "@" + word[t.Start..t.End]).ToArray();
    }

    [Fact]
    public void WordPieceSplitsUpTo100CodePointsAndLongerIsUnknown()
    {
        var m = new WordPieceModel(["[UNK]", "a", "##a", "😀", "##😀"], "[UNK]");
        Assert.Equal(100, m.MaxInputCharsPerWord);
        string[] hundred = Run(m, new string('a', 100));
        Assert.Equal(100, hundred.Length);
        Assert.Equal("a@a", hundred[0]);
        Assert.All(hundred.Skip(1), t => Assert.Equal("##a@a", t));
        Assert.Equal(new[] { "[UNK]@" + new string('a', 101) }, Run(m, new string('a', 101)));
        // The limit counts code points as Rust's chars().count(): 100 emoji are 200 UTF-16 units and still split.
        string emoji = string.Concat(Enumerable.Repeat("😀", 100));
        Assert.Equal(100, Run(m, emoji).Length);
        Assert.Equal(new[] { "[UNK]@" + emoji + "😀" }, Run(m, emoji + "😀"));
        m.MaxInputCharsPerWord = 3;
        Assert.Equal(new[] { "a@a", "##a@a", "##a@a" }, Run(m, "aaa"));
        Assert.Equal(new[] { "[UNK]@aaaa" }, Run(m, "aaaa"));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.MaxInputCharsPerWord = -1);
    }

    [Fact]
    public void WordPieceLongestMatchIsUnchangedByTheTokenLengthBound()
    {
        // The longest entry has 6 characters: a word of 99 characters still takes the longest match at each start.
        var m = new WordPieceModel(["[UNK]", "abcdef", "##abcdef", "##abc", "a", "##a", "##b", "##c", "##d", "##e", "##f"], "[UNK]");
        string word = string.Concat(Enumerable.Repeat("abcdef", 16)) + "abc";
        string[] tokens = Run(m, word);
        Assert.Equal(17, tokens.Length);
        Assert.Equal("abcdef@abcdef", tokens[0]);
        Assert.All(tokens.Skip(1).Take(15), t => Assert.Equal("##abcdef@abcdef", t));
        Assert.Equal("##abc@abc", tokens[^1]);
    }

    [SkippableFact]
    public void BertTokenizerLimitIsVisibleAndSettable()
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require("models/bert-base-uncased"));
        Assert.Equal(100, tok.MaxInputCharsPerWord);
        Assert.Equal(new[] { "[UNK]" }, tok.Tokenize(new string('x', 101)));
        Assert.DoesNotContain("[UNK]", tok.Tokenize(new string('x', 100)));
        tok.MaxInputCharsPerWord = 5;
        Assert.Equal(new[] { "hello", "[UNK]", "hi" }, tok.Tokenize("hello hellos hi"));
        var roberta = GoldenTests.LegacyLoad(SharedData.Require("models/roberta-base"));
        Assert.Null(roberta.MaxInputCharsPerWord);
    }

    /// <summary>The textbook loop: merge the adjacent pair of lowest rank, leftmost first, until none is left.</summary>
    private static List<string> SimpleMerge(string word, Dictionary<(string, string), int> ranks)
    {
        var symbols = word.Select(c => c.ToString()).ToList();
        while (true)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int k = 0; k + 1 < symbols.Count; k++)
                if (ranks.TryGetValue((symbols[k], symbols[k + 1]), out int r) && r < bestRank) { bestRank = r; best = k; }
            if (best < 0) return symbols;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
    }

    [SkippableFact]
    public void HeapMergeEqualsTheSimpleLoopOnRandomWordsOfRealMerges()
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require("models/roberta-base"));
        var bpe = Assert.IsType<BpeModel>(tok.Pipeline.Model);
        var ranks = new Dictionary<(string, string), int>();
        for (int r = 0; r < bpe.MergeList.Count; r++) ranks.TryAdd(bpe.MergeList[r], r);
        // Words glued from random merge halves hit many merges, ties of equal pairs and chains across the joins.
        var pieces = bpe.MergeList.Take(5000).SelectMany(m => new[] { m.A, m.B }).Where(p => p.All(c => bpe.TokenToId(c.ToString()) != null)).ToArray();
        var rng = new Random(1234);
        for (int i = 0; i < 3000; i++)
        {
            int count = i < 2980 ? rng.Next(1, 12) : rng.Next(100, 300);
            string word = string.Concat(Enumerable.Range(0, count).Select(_ => pieces[rng.Next(pieces.Length)]));
            if (i % 7 == 0) word = string.Concat(Enumerable.Repeat(word[..Math.Min(3, word.Length)], rng.Next(2, 40)));
            var expected = SimpleMerge(word, ranks);
            var output = new List<RawToken>();
            bpe.Tokenize(word, output);
            Assert.Equal(expected, output.Select(t => bpe.IdToToken(t.Id)!).ToList());
            Assert.Equal(word, string.Concat(output.Select(t => word[t.Start..t.End])));
        }
    }

    [SkippableFact]
    public void FourMegabyteWordThroughByteLevelBpe()
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require("models/roberta-base"));
        var rng = new Random(7);
        var chars = new char[4 << 20];
        for (int i = 0; i < chars.Length; i++) chars[i] = (char)('a' + rng.Next(26));
        string word = new(chars);
        var ids = Bounded(() => tok.Encode(word)[0].InputIds, "a 4 MB word through byte-level BPE");
        Assert.True(ids.Length > 3);
        // tokenizers has no word-length limit for BPE: every character is kept and decodes back.
        Assert.Equal(word, tok.Decode(ids, skipSpecialTokens: true));
    }

    [SkippableFact]
    public void TenMegabytesThroughWordPiece()
    {
        var tok = GoldenTests.LegacyLoad(SharedData.Require("models/bert-base-uncased"));
        var rng = new Random(7);
        var chars = new char[10 << 20];
        for (int i = 0; i < chars.Length; i++) chars[i] = (char)('a' + rng.Next(26));
        string word = new(chars);
        var one = Bounded(() => tok.Encode(word)[0].InputIds, "a 10 MB word through WordPiece");
        Assert.Equal(new[] { tok.TokenToId("[CLS]"), tok.TokenToId("[UNK]"), tok.TokenToId("[SEP]") }, one.Select(i => (int?)i));
        // Words of exactly 100 letters (the most WordPiece still splits), 2 MB of them.
        for (int i = 100; i < 2 << 20; i += 101) chars[i] = ' ';
        string text = new(chars, 0, 2 << 20);
        var ids = Bounded(() => tok.Encode(text)[0].InputIds, "2 MB of 100-letter words through WordPiece");
        var pieces = ids[1..^1].Select(i => tok.IdToToken(i)!).ToArray();
        Assert.DoesNotContain("[UNK]", pieces);
        Assert.Equal(text.Split(' ').Length, pieces.Count(p => !p.StartsWith("##", StringComparison.Ordinal)));
        Assert.Equal(text.Replace(" ", ""), string.Concat(pieces.Select(p => p.StartsWith("##", StringComparison.Ordinal) ? p[2..] : p)));
    }
}
