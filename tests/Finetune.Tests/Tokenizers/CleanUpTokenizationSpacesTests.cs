using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

public class CleanUpTokenizationSpacesTests
{
    // ByteLevel decoding gives the text back exactly, so what changes is only transformers' clean-up.
    private const string Spaced = "hello , world ! is n't it ? i 'm sure . it 's what we 've got , they 're here . rock ' n roll";

    private static PreTrainedTokenizer Roberta(string dir, string? tokenizerConfig)
    {
        foreach (string f in new[] { "vocab.json", "merges.txt", "config.json" })
            File.Copy(Path.Combine(SharedData.Require("models/roberta-base"), f), Path.Combine(dir, f));
        if (tokenizerConfig != null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig);
        return AutoTokenizer.FromPretrained(dir);
    }

    [SkippableFact]
    public void AbsentSettingCleansUpAsTransformers435()
    {
        // roberta-base ships no tokenizer_config.json: transformers 4.35 then cleans up (clean_up_tokenization_spaces=True).
        using var tmp = new TempDir();
        var tok = Roberta(tmp.Path, null);
        var ids = tok.Encode(Spaced)[0].InputIds;
        // Worked by hand: " ." → ".", " ?" → "?", " !" → "!", " ," → ",", " ' " → "'", " n't" → "n't", " 'm" → "'m",
        // " 's" → "'s", " 've" → "'ve", " 're" → "'re".
        Assert.Equal("hello, world! isn't it? i'm sure. it's what we've got, they're here. rock'n roll", tok.Decode(ids, skipSpecialTokens: true));
    }

    [SkippableFact]
    public void FalseInTheConfigKeepsTheSpaces()
    {
        using var tmp = new TempDir();
        var tok = Roberta(tmp.Path, "{\"clean_up_tokenization_spaces\": false}");
        Assert.Equal(Spaced, tok.Decode(tok.Encode(Spaced)[0].InputIds, skipSpecialTokens: true));
    }
}
