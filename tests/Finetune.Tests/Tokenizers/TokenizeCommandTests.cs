using System.Text.Json.Nodes;
using Finetune.Cli;

namespace Finetune.Tests.Tokenizers;

/// <summary>`finetune tokenize` in-process, checked against the golden BERT records it is given.</summary>
public class TokenizeCommandTests
{
    [SkippableFact]
    public void TokenizesGoldenRecordsExactly()
    {
        string model = SharedData.Require("models/bert-base-uncased");
        var golden = File.ReadLines(SharedData.Require("golden/tokenizers/bert-base-uncased.jsonl")).Take(300).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        using var dir = new TempDir();
        // The input keeps only the fields the command documents.
        File.WriteAllLines(dir.File("in.jsonl"), golden.Select(g =>
        {
            var o = new JsonObject { ["text"] = (string)g["text"]! };
            if (g["text_pair"] != null) o["text_pair"] = (string)g["text_pair"]!;
            o["max_length"] = g["max_length"]?.DeepClone();
            o["truncation"] = g["truncation"]!.DeepClone();
            o["padding"] = g["padding"]!.DeepClone();
            return o.ToJsonString();
        }));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl")], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var lines = File.ReadAllLines(dir.File("out.jsonl"));
        Assert.Equal(golden.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            var got = JsonNode.Parse(lines[i])!.AsObject();
            foreach (string key in new[] { "input_ids", "token_type_ids", "attention_mask", "tokens" })
                Assert.True(JsonNode.DeepEquals(golden[i][key], got[key]), $"line {i + 1} {key}: {got[key]!.ToJsonString()} vs {golden[i][key]!.ToJsonString()}");
        }
    }

    [SkippableFact]
    public void BadInputLineIsAnInvalidInputError()
    {
        string model = SharedData.Require("models/bert-base-uncased");
        using var dir = new TempDir();
        File.WriteAllLines(dir.File("in.jsonl"), ["{\"text\": \"fine\"}", "{\"text\": 3}"]);
        var stderr = new StringWriter();
        int code = Program.Run(["tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl")], new StringWriter(), stderr);
        Assert.Equal(3, code);
        Assert.Contains("line 2", stderr.ToString());
        Assert.False(File.Exists(dir.File("out.jsonl")));
    }
}
