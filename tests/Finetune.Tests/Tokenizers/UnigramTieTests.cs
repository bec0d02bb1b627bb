using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>
/// Runs of one character whose segmentations have the same exact score: the winner depends on each implementation's
/// arithmetic. Both walk start positions in order and replace a position's best path only when a candidate is
/// strictly better, so on an exact tie the path through the earliest start wins. The Rust tokenizers (tokenizer.json)
/// sum in double, where such ties stay exact; sentencepiece stores each position's best path score as a float, so
/// rounding breaks the tie.
/// </summary>
public class UnigramTieTests
{
    // albert-base-v2's spiece.model scores (float32) of "▁", "!" and "!!!".
    private const double Space = -2.1889710426330566, Bang = -7.793766975402832, Bang3 = -13.280431747436523;

    private static string[] Run(UnigramModel m, string word)
    {
        var output = new List<RawToken>();
        m.Tokenize(word, output);
        return output.Select(t => m.IdToToken(t.Id)!).ToArray();
    }

    [Fact]
    public void DoubleSumsKeepTheTieAndTheEarliestStartWins()
    {
        // "▁!!!!" ends with either "! !!!" (last piece starts at 2) or "!!! !" (starts at 4); both sum exactly to
        // ▁ + ! + !!! in double, so the candidate from start 2, visited first, stays.
        var m = new UnigramModel(["<unk>", "\u2581", "!", "!!!"], [0, Space, Bang, Bang3], unkId: 0);
        Assert.Equal(new[] { "\u2581", "!", "!!!" }, Run(m, "\u2581!!!!"));
    }

    [Fact]
    public void Float32PathScoresBreakTheTieAsSentencepieceDoes()
    {
        // best[2] = float(▁ + !) = -9.982738494873047, best[4] = float(▁ + !!!) = -15.469402313232422;
        // at the end: from start 2, -9.982738494873047 + !!! = -23.26317024230957; from start 4,
        // -15.469402313232422 + ! = -23.263169288635254, strictly greater: "!!!" then "!".
        var m = new UnigramModel(["<unk>", "\u2581", "!", "!!!"], [0, Space, Bang, Bang3], unkId: 0, float32PathScores: true);
        Assert.Equal(new[] { "\u2581", "!!!", "!" }, Run(m, "\u2581!!!!"));
    }

    [SkippableTheory]
    // The pieces sentencepiece 0.1.97 gives for these texts with albert-base-v2's spiece.model (the scores in the
    // model and the float rule above decide each one; "!!!!" is worked out in the test above).
    [InlineData("!!!!", new[] { "\u2581", "!!!", "!" })]
    [InlineData("errrrrmmmmm", new[] { "\u2581", "er", "rr", "rr", "mm", "mmm" })]
    [InlineData("GOOOOOOOL", new[] { "\u2581", "goo", "oooo", "ol" })]
    [InlineData("2222", new[] { "\u258122", "22" })]
    [InlineData("mmmmmmm", new[] { "\u2581mm", "mm", "mmm" })]
    public void AlbertRunsOfOneCharacterSegmentAsSentencepiece(string text, string[] pieces)
    {
        var tok = AutoTokenizer.FromPretrained(SharedData.Require("models/albert-base-v2"));
        Assert.Equal(pieces, tok.Tokenize(text));
    }
}
