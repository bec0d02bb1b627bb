using System.Text.Json;
using Finetune.Cli;
using Finetune.Models;
using Finetune.Tests.Models;
using Finetune.Tests.Weights;
using Finetune.Weights;

namespace Finetune.Tests.Cli;

public class PredictConvertTests
{
    /// <summary>The golden batch as JSONL, each row cut to its real tokens (the model pads per batch itself).</summary>
    private static string WriteInputs(string dir, string path, bool withMask = true)
    {
        using var st = SafeTensors.Read(Path.Combine(dir, "inputs.safetensors"));
        int t = st.Info("input_ids").Shape[1];
        int[] ids = st.ReadInt32("input_ids"), mask = st.ReadInt32("attention_mask");
        int[]? types = st.Contains("token_type_ids") ? st.ReadInt32("token_type_ids") : null;
        var lines = new List<string>();
        for (int r = 0; r < ids.Length / t; r++)
        {
            int len = mask.Skip(r * t).Take(t).Sum();
            var row = new Dictionary<string, int[]> { ["input_ids"] = ids.Skip(r * t).Take(len).ToArray() };
            if (withMask) row["attention_mask"] = Enumerable.Repeat(1, len).ToArray();
            if (types != null) row["token_type_ids"] = types.Skip(r * t).Take(len).ToArray();
            lines.Add(JsonSerializer.Serialize(row));
        }
        File.WriteAllLines(path, lines);
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => Finetune.Tests.Cli.CliRunner.Run(args);

    /// <summary>A prediction record without the echoed input ("text", and "line" unless kept).</summary>
    internal static string WithoutEcho(string json, bool keepLine = false)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        o.Remove("text");
        if (!keepLine) o.Remove("line");
        return o.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private static List<JsonElement> ReadLines(string path) => File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    private static float[] GoldenLogits(string dir)
    {
        using var st = SafeTensors.Read(Path.Combine(dir, "outputs.safetensors"));
        return st.ReadFloat("logits");
    }

    [SkippableTheory]
    [InlineData("bert")]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    public void PredictSingleLabelMatchesTransformersLogits(string name)
    {
        string dir = GoldenCases.Dir(name);
        using var tmp = new TempDir();
        string input = WriteInputs(dir, tmp.File("in.jsonl"), withMask: name != "roberta");
        var (code, _, err) = Run("predict", "--model", Path.Combine(dir, "bin"), "--input", input, "--output", tmp.File("out.jsonl"), "--batch-size", "3");
        Assert.True(code == 0, err);
        var lines = ReadLines(tmp.File("out.jsonl"));
        Assert.Equal(4, lines.Count);
        float[] golden = GoldenLogits(dir);
        var config = AutoConfig.FromPretrained(dir);
        int n = config.NumLabels;
        for (int r = 0; r < 4; r++)
        {
            float[] logits = lines[r].GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Close.Elementwise($"row {r}", golden.AsSpan(r * n, n), logits, 1e-5, 1e-4);
            float[] probs = lines[r].GetProperty("probs").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Assert.Equal(1.0, probs.Sum(), 5);
            int best = Array.IndexOf(probs, probs.Max());
            Assert.Equal(Array.IndexOf(logits, logits.Max()), best);
            Assert.Equal(config.Id2Label[best], lines[r].GetProperty("label").GetString());
            Assert.Equal(probs[best], lines[r].GetProperty("score").GetSingle());
            double expected = Math.Exp(logits[best]) / logits.Sum(l => Math.Exp(l));
            Assert.Equal(expected, probs[best], 5);
        }
    }

    [SkippableFact]
    public void PredictRegressionGivesTheValueAndMultiLabelGivesSigmoids()
    {
        using var tmp = new TempDir();
        string reg = GoldenCases.Dir("bert_regression");
        Assert.Equal(0, Run("predict", "--model", reg, "--input", WriteInputs(reg, tmp.File("r.jsonl")), "--output", tmp.File("r.out")).Code);
        float[] golden = GoldenLogits(reg);
        var lines = ReadLines(tmp.File("r.out"));
        for (int r = 0; r < 4; r++)
        {
            Assert.False(lines[r].TryGetProperty("probs", out _));
            Close.Elementwise("value", new[] { golden[r] }, new[] { lines[r].GetProperty("value").GetSingle() }, 1e-5, 1e-4);
        }
        string multi = GoldenCases.Dir("bert_multilabel");
        Assert.Equal(0, Run("predict", "--model", multi, "--input", WriteInputs(multi, tmp.File("m.jsonl")), "--output", tmp.File("m.out")).Code);
        golden = GoldenLogits(multi);
        lines = ReadLines(tmp.File("m.out"));
        for (int r = 0; r < 4; r++)
        {
            float[] probs = lines[r].GetProperty("probs").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            float[] sig = golden.Skip(r * 3).Take(3).Select(x => (float)(1 / (1 + Math.Exp(-x)))).ToArray();
            Close.Elementwise("sigmoid", sig, probs, 1e-6, 1e-4);
            var above = lines[r].GetProperty("labels").EnumerateArray().Select(v => v.GetString()).ToArray();
            Assert.Equal(new[] { "toxic", "insult", "threat" }.Where((_, i) => probs[i] >= 0.5f), above);
        }
    }

    [SkippableFact]
    public void PredictErrorsNameTheLine()
    {
        string dir = GoldenCases.Dir("bert");
        using var tmp = new TempDir();
        File.WriteAllLines(tmp.File("bad.jsonl"), new[] { "{\"input_ids\": [101, 5, 102]}", "{\"input_ids\": [101, oops]}" });
        var (code, _, err) = Run("predict", "--model", dir, "--input", tmp.File("bad.jsonl"), "--output", tmp.File("o.jsonl"));
        Assert.Equal(3, code);
        Assert.Contains("line 2", err);
        File.WriteAllLines(tmp.File("oov.jsonl"), new[] { "{\"input_ids\": [101, 5, 102]}", "{\"input_ids\": [101, 99999, 102]}" });
        (code, _, err) = Run("predict", "--model", dir, "--input", tmp.File("oov.jsonl"), "--output", tmp.File("o.jsonl"));
        Assert.Equal(3, code);
        Assert.Contains("99999", err);
        Assert.False(File.Exists(tmp.File("o.jsonl")));
        (code, _, _) = Run("predict", "--model", tmp.File("nope"), "--input", tmp.File("oov.jsonl"), "--output", tmp.File("o.jsonl"));
        Assert.Equal(4, code);
    }

    [SkippableTheory]
    [InlineData("albert")]
    [InlineData("camembert")]
    public void ConvertBinToSafeTensorsGivesThePythonFile(string name)
    {
        string dir = GoldenCases.Dir(name);
        using var tmp = new TempDir();
        var (code, _, err) = Run("convert", "--model", Path.Combine(dir, "bin"), "--output", tmp.Path);
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "model.safetensors")), File.ReadAllBytes(tmp.File("model.safetensors")));
        Assert.Equal(AutoConfig.FromPretrained(dir).ToJsonString(), AutoConfig.FromPretrained(tmp.Path).ToJsonString());
    }

    [SkippableFact]
    public void ConvertToHalfAndPredictStillAgrees()
    {
        string dir = GoldenCases.Dir("bert");
        using var tmp = new TempDir();
        Assert.Equal(0, Run("convert", "--model", dir, "--output", tmp.File("m"), "--dtype", "f16").Code);
        using (var st = SafeTensors.Read(Path.Combine(tmp.File("m"), "model.safetensors")))
            Assert.All(st.Names, n => Assert.Equal(DType.F16, st.Info(n).DType));
        Assert.Equal("float16", PretrainedConfig.ReadJson(Path.Combine(tmp.File("m"), "config.json"))["torch_dtype"]!.GetValue<string>());
        Assert.Equal(0, Run("predict", "--model", tmp.File("m"), "--input", WriteInputs(dir, tmp.File("in.jsonl")), "--output", tmp.File("out.jsonl")).Code);
        float[] golden = GoldenLogits(dir);
        var lines = ReadLines(tmp.File("out.jsonl"));
        for (int r = 0; r < 4; r++)
        {
            float[] logits = lines[r].GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Close.Elementwise("f16 logits", golden.AsSpan(r * 2, 2), logits, 2e-3, 1e-2); // half precision weights
        }
        Assert.NotEqual(0, Run("convert", "--model", dir, "--output", tmp.File("x"), "--dtype", "f8").Code);
    }
}

public class PredictTextTests
{
    [SkippableFact]
    public void TextLinesAreTokenizedLikeTransformers()
    {
        // A randomly initialised bert-tiny with bert-base-uncased's tokenizer: text lines must give exactly the
        // predictions of the token ids transformers produced for the same texts (golden tokenizer file).
        string tokDir = SharedData.Require("models/bert-base-uncased");
        string tinyConfig = SharedData.Require("models/bert-tiny/config.json");
        string golden = SharedData.Require("golden/tokenizers/bert-base-uncased.jsonl");
        using var tmp = new TempDir();
        string modelDir = tmp.File("model");
        Directory.CreateDirectory(modelDir);
        File.Copy(tinyConfig, Path.Combine(modelDir, "config.json"));
        var model = AutoModelForSequenceClassification.FromConfig(AutoConfig.FromPretrained(modelDir), new Finetune.Tensors.Generator(3));
        model.SavePretrained(modelDir);
        foreach (string f in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt" })
            File.Copy(Path.Combine(tokDir, f), Path.Combine(modelDir, f));

        var texts = new List<string>();
        var ids = new List<string>();
        foreach (string line in File.ReadLines(golden))
        {
            var j = JsonDocument.Parse(line).RootElement;
            if (!j.GetProperty("add_special_tokens").GetBoolean() || j.GetProperty("padding").ValueKind != JsonValueKind.False) continue;
            if (j.GetProperty("truncation").ValueKind != JsonValueKind.False || j.TryGetProperty("text_pair", out _)) continue;
            texts.Add(JsonSerializer.Serialize(new { text = j.GetProperty("text").GetString() }));
            ids.Add(JsonSerializer.Serialize(new { input_ids = j.GetProperty("input_ids"), token_type_ids = j.GetProperty("token_type_ids") }));
            if (texts.Count == 40) break;
        }
        Assert.Equal(40, texts.Count);
        File.WriteAllLines(tmp.File("text.jsonl"), texts);
        File.WriteAllLines(tmp.File("ids.jsonl"), ids);
        var err = new StringWriter();
        Assert.Equal(0, Program.Run(new[] { "predict", "--model", modelDir, "--input", tmp.File("text.jsonl"), "--output", tmp.File("a.jsonl") }, new StringWriter(), err));
        Assert.Equal(0, Program.Run(new[] { "predict", "--model", modelDir, "--input", tmp.File("ids.jsonl"), "--output", tmp.File("b.jsonl") }, new StringWriter(), err));
        // The same records, but for the echoed text.
        Assert.Equal(File.ReadAllLines(tmp.File("b.jsonl")).Select(l => PredictConvertTests.WithoutEcho(l, keepLine: true)), File.ReadAllLines(tmp.File("a.jsonl")).Select(l => PredictConvertTests.WithoutEcho(l, keepLine: true)));

        // Plain text in: a .txt file of one text per line, and --text on the command line.
        var plain = new List<string>();
        var expected = new List<string>();
        var fromIds = File.ReadAllLines(tmp.File("b.jsonl"));
        for (int i = 0; i < texts.Count; i++)
        {
            string t = JsonDocument.Parse(texts[i]).RootElement.GetProperty("text").GetString()!;
            if (string.IsNullOrWhiteSpace(t) || t.Contains('\n') || t.Contains('\r')) continue;
            plain.Add(t);
            expected.Add(fromIds[i]);
        }
        Assert.True(plain.Count > 10);
        File.WriteAllLines(tmp.File("plain.txt"), plain);
        Assert.Equal(0, Program.Run(new[] { "predict", "--model", modelDir, "--input", tmp.File("plain.txt"), "--output", tmp.File("c.jsonl") }, new StringWriter(), err));
        // Line numbers differ (the plain file skips some texts); the rest of each record is the same.
        Assert.Equal(expected.Select(l => PredictConvertTests.WithoutEcho(l)), File.ReadAllLines(tmp.File("c.jsonl")).Select(l => PredictConvertTests.WithoutEcho(l)));

        var stdout = new StringWriter();
        Assert.True(Program.Run(new[] { "predict", "--model", modelDir, "--text", plain[0] }, stdout, err) == 0, err.ToString());
        var want = JsonDocument.Parse(expected[0]).RootElement;
        string[] printed = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("label: " + want.GetProperty("label").GetString(), printed[0]);
        Assert.Equal("probabilities:", printed[1]);
        var id2label = AutoConfig.FromPretrained(modelDir).Id2Label;
        var probs = want.GetProperty("probs").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(probs.Length + 2, printed.Length);
        for (int i = 0; i < probs.Length; i++)
        {
            string[] kv = printed[2 + i].Split(": ");
            Assert.Equal(id2label[i], kv[0]);
            Assert.InRange(double.Parse(kv[1], System.Globalization.CultureInfo.InvariantCulture), probs[i] - 1e-6, probs[i] + 1e-6); // printed to 6 decimals
        }
    }

    [SkippableFact]
    public void PredictNeedsTextOrInput()
    {
        string dir = GoldenCases.Dir("bert");
        var err = new StringWriter();
        Assert.Equal(3, Program.Run(new[] { "predict", "--model", dir }, new StringWriter(), err));
        Assert.Contains("--text", err.ToString());
        Assert.Equal(3, Program.Run(new[] { "predict", "--model", dir, "--input", "x.jsonl" }, new StringWriter(), new StringWriter()));
    }
}
