using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Models;

namespace Finetune.Tests.Cli;

/// <summary>
/// A config that does not describe its weights must not predict, evaluate, convert or train with random weights in
/// their place: exit 3 naming the tensors. Only a fresh task head may be initialised, when fine-tuning.
/// </summary>
public class CheckpointFitTests
{
    /// <summary>The reference run's fine-tuned bert (2 layers, hidden 64) with its config edited.</summary>
    private static string Folder(TempDir t, string name, Action<JsonObject> edit, bool weights = true)
    {
        string final = SharedData.Require("golden/training/bs16_e2/final");
        string dir = t.File(name);
        Directory.CreateDirectory(dir);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(final, "config.json")))!.AsObject();
        edit(cfg);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        if (weights) File.Copy(Path.Combine(final, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    private static string Inputs(TempDir t)
    {
        string data = SharedData.Require("golden/training/data/validation.jsonl");
        var lines = File.ReadLines(data).Take(3).Select(l => new JsonObject { ["input_ids"] = JsonNode.Parse(l)!["input_ids"]!.DeepClone() }.ToJsonString());
        File.WriteAllLines(t.File("in.jsonl"), lines);
        return t.File("in.jsonl");
    }

    [SkippableFact]
    public void AnExtraLayerInTheConfigFailsPredictNamingItsTensorsUnlessAllowed()
    {
        using var t = new TempDir();
        string dir = Folder(t, "three-layers", c => c["num_hidden_layers"] = 3);
        string input = Inputs(t);
        var r = CliRunner.Run("predict", "--model", dir, "--input", input, "--output", t.File("out.jsonl"));
        Assert.Equal(3, r.Code);
        Assert.Contains("bert.encoder.layer.2.", r.Err); // the preflight names the first missing layer's tensors
        Assert.False(File.Exists(t.File("out.jsonl")));
        r = CliRunner.Run("predict", "--model", dir, "--input", input, "--output", t.File("out.jsonl"), "--allow-new-weights");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("newly initialized", r.Err); // still said, as transformers warns
    }

    [SkippableFact]
    public void AMissingLayerAWrongModelTypeAndAnEmptyStateDictFailEvaluateAndConvert()
    {
        using var t = new TempDir();
        string data = SharedData.Require("golden/training/data");
        string oneLayer = Folder(t, "one-layer", c => c["num_hidden_layers"] = 1);
        var r = CliRunner.Run("evaluate", "--model", oneLayer, "--dataset", data);
        Assert.Equal(3, r.Code);
        Assert.Contains("bert.encoder.layer.1.", r.Err);
        r = CliRunner.Run("convert", "--model", oneLayer, "--output", t.File("converted"));
        Assert.Equal(3, r.Code);
        Assert.Contains("bert.encoder.layer.1.", r.Err);
        Assert.False(File.Exists(t.File("converted/model.safetensors")));

        string roberta = Folder(t, "roberta", c => { c["model_type"] = "roberta"; c["architectures"] = new JsonArray("RobertaForSequenceClassification"); });
        r = CliRunner.Run("predict", "--model", roberta, "--input", Inputs(t), "--output", t.File("out.jsonl"));
        Assert.Equal(3, r.Code);
        Assert.Contains("roberta.embeddings.word_embeddings.weight", r.Err);

        // A safetensors file with no tensors: an 8-byte header length and "{}".
        string empty = Folder(t, "empty", _ => { }, weights: false);
        File.WriteAllBytes(Path.Combine(empty, "model.safetensors"), [2, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        r = CliRunner.Run("convert", "--model", empty, "--output", t.File("converted-empty"));
        Assert.Equal(3, r.Code);
        Assert.Contains("classifier.weight", r.Err);
    }

    [SkippableFact]
    public void TrainingAcceptsAFreshHeadWithTransformersWarningButNotAMissingEncoderLayer()
    {
        using var t = new TempDir();
        string data = SharedData.Require("golden/training/data");
        // The encoder alone (BertModel), as a pretraining checkpoint would hold it.
        var encoder = AutoModel.FromPretrained(SharedData.Require("golden/training/init"));
        encoder.SavePretrained(t.File("encoder"));
        var r = CliRunner.Run("train", "--model", t.File("encoder"), "--dataset", data, "--max-train-samples", "16", "--max-eval-samples", "16",
            "--num-train-epochs", "1", "--save-strategy", "no", "--disable-tqdm", "--output-dir", t.File("run"));
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("newly initialized: [classifier.weight, classifier.bias]", r.Err);

        var cfg = JsonNode.Parse(File.ReadAllText(t.File("encoder/config.json")))!.AsObject();
        cfg["num_hidden_layers"] = 3;
        File.WriteAllText(t.File("encoder/config.json"), cfg.ToJsonString());
        r = CliRunner.Run("train", "--model", t.File("encoder"), "--dataset", data, "--max-train-samples", "16", "--max-eval-samples", "16",
            "--num-train-epochs", "1", "--save-strategy", "no", "--disable-tqdm", "--output-dir", t.File("run2"));
        Assert.Equal(3, r.Code);
        Assert.Contains("encoder.layer.2.", r.Err); // caught by the preflight, named as the checkpoint spells it
        Assert.DoesNotContain("classifier.weight, ", r.Err.Split("does not fit")[1]); // the fresh head is not the complaint
    }
}

public class PredictTextLinesTests
{
    [SkippableFact]
    public void BlankLinesKeepTheirOutputLineAndEveryRecordEchoesItsInput()
    {
        string final = SharedData.Require("golden/training/bs16_e2/final");
        string tok = SharedData.Require("models/bert-base-uncased");
        using var t = new TempDir();
        string dir = t.File("model");
        Directory.CreateDirectory(dir);
        foreach (string f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(final, f), Path.Combine(dir, f));
        foreach (string f in new[] { "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json" }) File.Copy(Path.Combine(tok, f), Path.Combine(dir, f));
        File.WriteAllText(t.File("in.txt"), "a good film\n\n   \nbad\n");
        var r = CliRunner.Run("predict", "--model", dir, "--input", t.File("in.txt"), "--output", t.File("out.jsonl"));
        Assert.True(r.Code == 0, r.Err);
        var rows = File.ReadAllLines(t.File("out.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal(new[] { 1, 2, 3, 4 }, rows.Select(x => x.GetProperty("line").GetInt32()));
        Assert.Equal(new[] { "a good film", "", "   ", "bad" }, rows.Select(x => x.GetProperty("text").GetString()));
        // An empty (or blank) text is [CLS] [SEP] for bert-base-uncased's tokenizer: the same logits as those ids.
        File.WriteAllText(t.File("ids.jsonl"), "{\"input_ids\": [101, 102]}\n");
        r = CliRunner.Run("predict", "--model", dir, "--input", t.File("ids.jsonl"), "--output", t.File("ids-out.jsonl"));
        Assert.True(r.Code == 0, r.Err);
        var ids = JsonDocument.Parse(File.ReadAllLines(t.File("ids-out.jsonl"))[0]).RootElement;
        foreach (int row in new[] { 1, 2 })
            Assert.Equal(ids.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()), rows[row].GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()));
    }
}
