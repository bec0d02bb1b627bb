using System.Text;
using System.Text.Json.Nodes;
using Finetune.Tokenizers;
using Xunit.Abstractions;

namespace Finetune.Tests.Tokenizers;

/// <summary>Every line of the Python reference encodings (shared/golden/tokenizers) must match id for id.</summary>
public class GoldenTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("bert-base-uncased", "bert-base-uncased", true)]
    [InlineData("roberta-base", "roberta-base", false)]
    [InlineData("albert-base-v2", "albert-base-v2", true)]
    [InlineData("all-MiniLM-L6-v2", "bert-base-uncased", true)] // same vocab.txt, no tokenizer_config.json: BERT defaults
    public void RecordsMatch(string model, string golden, bool hasTypeIds)
    {
        var tok = LegacyLoad(SharedData.Require($"models/{model}"));
        string path = SharedData.Require($"golden/tokenizers/{golden}.jsonl");
        int total = 0, bad = 0;
        var diffs = new StringBuilder();
        foreach (string line in File.ReadLines(path))
        {
            var rec = JsonNode.Parse(line)!.AsObject();
            total++;
            var o = Options(rec, rec["padding"]?.ToString() == "max_length" ? PaddingStrategy.MaxLength : PaddingStrategy.None);
            var enc = tok.Encode((string)rec["text"]!, (string?)rec["text_pair"], o)[0];
            string? why = Compare(rec, enc.InputIds, enc.TokenTypeIds, enc.AttentionMask, enc.Tokens, -1, hasTypeIds);
            if (why != null && ++bad <= 8) diffs.AppendLine($"{rec["source"]}: {why}");
        }
        output.WriteLine($"{golden}.jsonl: {total - bad}/{total} records match");
        Assert.True(bad == 0, $"{golden}.jsonl: {bad} of {total} records differ:\n{diffs}");
    }

    [SkippableTheory]
    [InlineData("bert-base-uncased", "bert-base-uncased", true)]
    [InlineData("roberta-base", "roberta-base", false)]
    [InlineData("albert-base-v2", "albert-base-v2", true)]
    public void BatchesMatch(string model, string golden, bool hasTypeIds)
    {
        var tok = LegacyLoad(SharedData.Require($"models/{model}"));
        string path = SharedData.Require($"golden/tokenizers/{golden}.batches.jsonl");
        int total = 0, bad = 0;
        var diffs = new StringBuilder();
        foreach (string line in File.ReadLines(path))
        {
            var rec = JsonNode.Parse(line)!.AsObject();
            total++;
            var texts = rec["texts"]!.AsArray().Select(n => (string)n!).ToList();
            var pairs = rec["text_pairs"]?.AsArray().Select(n => (string)n!).ToList();
            var batch = tok.EncodeBatch(texts, pairs, Options(rec, PaddingStrategy.Longest));
            string? why = null;
            for (int r = 0; r < batch.Count && why == null; r++)
                why = Compare(rec, batch[r].InputIds, batch[r].TokenTypeIds, batch[r].AttentionMask, batch[r].Tokens, r, hasTypeIds);
            if (why != null && ++bad <= 8) diffs.AppendLine($"batch {total}: {why}");
        }
        output.WriteLine($"{golden}.batches.jsonl: {total - bad}/{total} batches match");
        Assert.True(bad == 0, $"{golden}.batches.jsonl: {bad} of {total} batches differ:\n{diffs}");
    }

    // The legacy files are what the golden files were made from; tokenizer.json (when present) is tested separately.
    internal static PreTrainedTokenizer LegacyLoad(string dir)
    {
        using var tmp = new TempDir();
        foreach (var f in Directory.GetFiles(dir))
            if (Path.GetFileName(f) != "tokenizer.json") File.Copy(f, tmp.File(Path.GetFileName(f)));
        return AutoTokenizer.FromPretrained(tmp.Path);
    }

    internal static EncodeOptions Options(JsonObject rec, PaddingStrategy padding)
    {
        string trunc = rec["truncation"]?.ToString() ?? "false";
        return new EncodeOptions
        {
            Truncation = trunc switch
            {
                "longest_first" => TruncationStrategy.LongestFirst,
                "only_first" => TruncationStrategy.OnlyFirst,
                "only_second" => TruncationStrategy.OnlySecond,
                _ => TruncationStrategy.None,
            },
            MaxLength = (int?)rec["max_length"],
            Padding = padding,
        };
    }

    internal static string? Compare(JsonObject rec, int[] ids, int[] types, int[] mask, string[] tokens, int row, bool hasTypeIds)
    {
        JsonNode? Pick(string key) => row < 0 ? rec[key] : rec[key]?.AsArray()[row];
        int[] Ints(string key) => Pick(key)!.AsArray().Select(n => (int)n!).ToArray();
        string where = row < 0 ? "" : $"row {row}: ";
        var wantIds = Ints("input_ids");
        if (!wantIds.SequenceEqual(ids))
        {
            var wantTok = Pick("tokens")!.AsArray().Select(n => (string)n!).ToArray();
            return $"{where}ids differ\n  want {string.Join(" ", wantTok)}\n  got  {string.Join(" ", tokens)}\n  text {JsonValue.Create((string?)(row < 0 ? rec["text"] : rec["texts"]![row]))?.ToJsonString()}";
        }
        if (hasTypeIds && !Ints("token_type_ids").SequenceEqual(types)) return $"{where}token_type_ids differ";
        if (!Ints("attention_mask").SequenceEqual(mask)) return $"{where}attention_mask differs";
        if (!Pick("tokens")!.AsArray().Select(n => (string)n!).SequenceEqual(tokens)) return $"{where}tokens differ";
        return null;
    }
}
