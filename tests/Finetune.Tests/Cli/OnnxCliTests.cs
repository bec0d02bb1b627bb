using System.Text.Json;
using Finetune.Inference;
using Finetune.Tests.Weights.Onnx;
using static Finetune.Tests.Cli.CliRunner;

namespace Finetune.Tests.Cli;

/// <summary>`finetune convert` of an ONNX export and `finetune embed` on the converted folder.</summary>
public class OnnxCliTests
{
    [Fact]
    public void ConvertAnOnnxFolderThenEmbed()
    {
        var package = OnnxTestFiles.Require(OnnxTestFiles.MiniLm);
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("onnx-export/onnx"));
        using (var onnx = package.OpenOnnx())
        using (var f = File.Create(tmp.File("onnx-export/onnx/model.onnx")))
            onnx.CopyTo(f);
        using (var vocab = package.OpenVocab())
        using (var f = File.Create(tmp.File("onnx-export/vocab.txt")))
            vocab.CopyTo(f);

        var (code, output, err) = Run("convert", "--model", tmp.File("onnx-export"), "--output", tmp.File("hf"));
        Assert.True(code == 0, err);
        Assert.Contains("22713216 parameters", output); // all-MiniLM-L6-v2's BertModel, pooler included
        foreach (string f in new[] { "config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.True(File.Exists(tmp.File("hf/" + f)), f);

        File.WriteAllLines(tmp.File("in.txt"), ["a gripping, beautifully shot film", "", "dull and far too long"]);
        (code, output, err) = Run("embed", "--model", tmp.File("hf"), "--input", tmp.File("in.txt"), "--output", tmp.File("out.jsonl"), "--batch-size", "1");
        Assert.True(code == 0, err);
        var lines = File.ReadAllLines(tmp.File("out.jsonl"));
        Assert.Equal(2, lines.Length); // blank lines are skipped
        var expected = SentenceEmbedder.FromPretrained(tmp.File("hf")).Encode(["a gripping, beautifully shot film", "dull and far too long"]);
        for (int i = 0; i < 2; i++)
        {
            float[] got = JsonDocument.Parse(lines[i]).RootElement.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(expected[i], got); // float32 written in round-trip form
        }

        (code, output, _) = Run("embed", "--model", tmp.File("hf"), "--text", "dull and far too long");
        Assert.Equal(0, code);
        Assert.Equal(expected[1], JsonDocument.Parse(output).RootElement.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray());
    }

    /// <summary>
    /// `finetune export onnx` then `finetune convert` of the .onnx, for every family: the converted classifier
    /// loads and predicts the same logits as the folder it was exported from.
    /// </summary>
    [Theory]
    [MemberData(nameof(Weights.OnnxExportTests.Families), MemberType = typeof(Weights.OnnxExportTests))]
    public void ExportThenConvertGivesBackTheClassifier(string family)
    {
        var model = Finetune.Models.AutoModelForSequenceClassification.FromConfig(Weights.OnnxExportTests.MakeConfig(family), new Finetune.Tensors.Generator(31));
        using var tmp = new TempDir();
        model.SavePretrained(tmp.File("model"));
        var (code, _, err) = Run("export", "onnx", "--model", tmp.File("model"), "--output", tmp.File("model.onnx"));
        Assert.True(code == 0, err);
        (code, string output, err) = Run("convert", "--model", tmp.File("model.onnx"), "--output", tmp.File("back"));
        Assert.True(code == 0, err);
        Assert.Contains($"Saved {model.ArchitectureName} ({model.NumParameters()} parameters", output);
        var back = Finetune.Models.AutoModelForSequenceClassification.FromPretrained(tmp.File("back"));
        Assert.Equal(model.Config.Id2Label, back.Config.Id2Label);
        var batch = (Ids: new long[] { 101, 2023, 3185, 102, 101, 2307, 102, 0 }, Mask: new long[] { 1, 1, 1, 1, 1, 1, 1, 0 }, Types: new long[8], Batch: 2, Seq: 4);
        if (family == "roberta") batch.Ids[7] = 1; // RoBERTa pads with 1
        Assert.Equal(Weights.OnnxExportTests.Ours(model, batch, classifier: true), Weights.OnnxExportTests.Ours(back, batch, classifier: true));
    }

    [Fact]
    public void ATruncatedOnnxFileIsExit3AndWritesNothing()
    {
        using var tmp = new TempDir();
        byte[] real = OnnxTestFiles.ReadOnnx(OnnxTestFiles.Arctic);
        File.WriteAllBytes(tmp.File("model.onnx"), real[..(real.Length / 2)]);
        var (code, _, err) = Run("convert", "--model", tmp.File("model.onnx"), "--output", tmp.File("out"));
        Assert.Equal(3, code);
        Assert.Contains(tmp.File("model.onnx"), err);
        Assert.False(Directory.Exists(tmp.File("out")));
        Assert.Single(Directory.GetFileSystemEntries(tmp.Path));
    }

    [Fact]
    public void EmbedNeedsExactlyOneInput()
    {
        var (code, _, _) = Run("embed", "--model", "whatever");
        Assert.Equal(3, code);
    }
}
