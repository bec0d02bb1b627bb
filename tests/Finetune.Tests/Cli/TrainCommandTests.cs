using System.Text.Json;
using Finetune.Cli;

namespace Finetune.Tests.Cli;

public class TrainCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Finetune.Tests.Cli.CliRunner.Run(args);

    [SkippableFact]
    public void PreTokenizedGoldenDataTrainsThroughTheCommandAsTransformersDid()
    {
        string root = SharedData.Require("golden/training");
        using var t = new TempDir();
        var (code, stdout, stderr) = Run("train", "--model", Path.Combine(root, "init"), "--dataset", Path.Combine(root, "data"),
            "--config", Path.Combine(root, "bs16_e2/training_args.json"), "--output-dir", t.Path, "--train-sampling-strategy", "sequential",
            "--max-length", "64");
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("Epoch  | Training Loss | Validation Loss | Accuracy | F1", stdout);

        // Per-epoch eval metrics equal the reference's log_history; the final report is on the validation split.
        var golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "bs16_e2/log_history.json"))).RootElement
            .EnumerateArray().Where(e => e.TryGetProperty("eval_loss", out _)).ToArray();
        var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(t.Path, "metrics.json"))).RootElement;
        var epochs = metrics.GetProperty("epochs").EnumerateArray().ToArray();
        Assert.Equal(golden.Length, epochs.Length);
        for (int i = 0; i < golden.Length; i++)
        {
            foreach (string k in new[] { "accuracy", "f1", "precision", "recall" })
                Assert.Equal(golden[i].GetProperty("eval_" + k).GetDouble(), epochs[i].GetProperty(k).GetDouble(), 12);
            double want = golden[i].GetProperty("eval_loss").GetDouble();
            Assert.True(Math.Abs(want - epochs[i].GetProperty("validation_loss").GetDouble()) <= 1e-3 * want);
        }
        var final = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "bs16_e2/final_eval_metrics.json"))).RootElement;
        Assert.Equal(final.GetProperty("test_accuracy").GetDouble(), metrics.GetProperty("validation").GetProperty("test_accuracy").GetDouble(), 12);
        Assert.Equal(final.GetProperty("test_f1").GetDouble(), metrics.GetProperty("validation").GetProperty("test_f1").GetDouble(), 12);
        Assert.True(File.Exists(Path.Combine(t.Path, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(t.Path, "config.json")));
        string html = File.ReadAllText(Path.Combine(t.Path, "report.html"));
        Assert.Contains("<svg", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
    }

    [SkippableFact]
    public void FromScratchOnRottenTomatoesWritesModelMetricsAndReport()
    {
        SharedData.Require("datasets/rotten_tomatoes");
        string tok = SharedData.Require("models/bert-base-uncased");
        string config = SharedData.Require("models/bert-tiny/config.json");
        using var t = new TempDir();
        var (code, stdout, stderr) = Run("train", "--model", config, "--from-scratch", "--tokenizer", tok, "--max-train-samples", "96",
            "--max-eval-samples", "64", "--num-train-epochs", "2", "--per-device-train-batch-size", "32", "--output-dir", t.Path, "--disable-tqdm");
        Assert.True(code == 0, stderr + stdout);
        var rows = stdout.Split('\n').Where(l => l.StartsWith("1 ") || l.StartsWith("2 ")).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains("weighted avg", stdout);
        Assert.Contains("true \\ pred", stdout);
        foreach (string f in new[] { "model.safetensors", "config.json", "metrics.json", "report.html", "tokenizer.json", "training_args.json" })
            Assert.True(File.Exists(Path.Combine(t.Path, f)), f + " missing");
        Assert.True(Directory.Exists(Path.Combine(t.Path, "checkpoint-3")));
        var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(t.Path, "metrics.json"))).RootElement;
        Assert.Equal(64, metrics.GetProperty("classification_report").GetProperty("macro avg").GetProperty("support").GetInt32());
    }

    [SkippableFact]
    public void UserMistakesAreOneSentenceAndANonZeroCode()
    {
        string tok = SharedData.Require("models/bert-base-uncased");
        string config = SharedData.Require("models/bert-tiny/config.json");
        using var t = new TempDir();
        var (code, _, err) = Run("train", "--model", config, "--from-scratch", "--tokenizer", tok, "--label-column", "nope", "--output-dir", t.Path);
        Assert.Equal(4, code);
        Assert.Contains("no label column 'nope'", err);
        (code, _, err) = Run("train", "--model", config, "--from-scratch", "--tokenizer", tok, "--max-length", "4096", "--output-dir", t.Path);
        Assert.Equal(3, code);
        Assert.Contains("max_position_embeddings", err);
        (code, _, err) = Run("train", "--model", Path.Combine(t.Path, "missing"), "--output-dir", t.Path);
        Assert.Equal(4, code);
        Assert.Contains("does not exist", err);
        (code, _, err) = Run("train", "--per-device-train-batch-size", "many", "--output-dir", t.Path);
        Assert.Equal(2, code); // a bad value on the command line is usage
        Assert.Contains("per_device_train_batch_size", err);

        // An output folder holding a run with other arguments is refused, and what is there stays untouched.
        string run = Path.Combine(t.Path, "run");
        string[] common = { "train", "--model", config, "--from-scratch", "--tokenizer", tok, "--max-train-samples", "32", "--max-eval-samples", "16",
            "--num-train-epochs", "1", "--save-strategy", "no", "--disable-tqdm", "--output-dir", run };
        (code, _, err) = Run(common);
        Assert.True(code == 0, err);
        byte[] before = File.ReadAllBytes(Path.Combine(run, "model.safetensors"));
        (code, _, err) = Run(common.Concat(new[] { "--learning-rate", "1e-3" }).ToArray());
        Assert.Equal(3, code);
        Assert.Contains("different training arguments", err);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, "model.safetensors")));
    }
}

public class CompareAndEvaluateCommandTests
{
    [SkippableFact]
    public void CompareTrainsTwoConfigsAndPrintsOneTable()
    {
        SharedData.Require("datasets/rotten_tomatoes");
        string tok = SharedData.Require("models/bert-base-uncased");
        string tiny = SharedData.Require("models/bert-tiny/config.json");
        using var t = new TempDir();
        // A second, smaller config: bert-tiny with one layer and a narrower feed-forward.
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tiny))!.AsObject();
        cfg["num_hidden_layers"] = 1;
        cfg["intermediate_size"] = 256;
        Directory.CreateDirectory(t.File("bert-one-layer"));
        File.WriteAllText(t.File("bert-one-layer/config.json"), cfg.ToJsonString());
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(new[] { "compare", "--models", tiny + "," + t.File("bert-one-layer"), "--from-scratch", "--tokenizer", tok,
            "--max-train-samples", "64", "--max-eval-samples", "32", "--num-train-epochs", "1", "--output-dir", t.File("runs"), "--save-strategy", "no" }, o, e);
        Assert.True(code == 0, e.ToString() + o);
        var lines = o.ToString().Split('\n');
        int header = Array.FindIndex(lines, l => l.StartsWith("model "));
        Assert.True(header >= 0, o.ToString());
        Assert.Contains("F1 (macro)", lines[header]);
        Assert.Contains("samples/s", lines[header]);
        Assert.StartsWith("bert-tiny ", lines[header + 2]);
        Assert.StartsWith("bert-one-layer ", lines[header + 3]);
        // Parameter counts differ by one encoder layer of bert-tiny's width.
        Assert.NotEqual(lines[header + 2].Split('|')[1].Trim(), lines[header + 3].Split('|')[1].Trim());
    }

    [SkippableFact]
    public void CompareMixesAPretrainedFolderWithAConfigFileTrainedFromScratch()
    {
        string tok = SharedData.Require("models/bert-base-uncased");
        string tiny = SharedData.Require("models/bert-tiny/config.json");
        string pretrained = SharedData.Require("golden/training/init");
        using var t = new TempDir();
        var o = new StringWriter();
        var e = new StringWriter();
        // No --from-scratch: the config file can only start from random weights, the folder loads its own.
        int code = Program.Run(new[] { "compare", "--models", pretrained + "," + tiny, "--tokenizer", tok, "--dataset", "rotten_tomatoes",
            "--max-train-samples", "32", "--max-eval-samples", "16", "--num-train-epochs", "1", "--output-dir", t.File("runs"), "--save-strategy", "no" }, o, e);
        Assert.True(code == 0, e.ToString() + o);
        string output = o.ToString();
        Assert.Contains($"[1/2] {pretrained}: fine-tuning", output);
        Assert.Contains($"[2/2] {tiny} (from scratch): fine-tuning", output);
        Assert.Equal(2, output.Split('\n').Count(l => l.Contains("test (16 rows): accuracy", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public void EvaluateReportsOnTheValidationSplitOfATrainedModel()
    {
        string root = SharedData.Require("golden/training");
        var o = new StringWriter();
        var e = new StringWriter();
        using var t = new TempDir();
        int code = Program.Run(new[] { "evaluate", "--model", Path.Combine(root, "bs16_e2/final"), "--dataset", Path.Combine(root, "data"),
            "--per-device-eval-batch-size", "32", "--metrics-file", t.File("m.json") }, o, e);
        Assert.True(code == 0, e.ToString() + o);
        // final_eval_metrics.json: accuracy 0.640625 on the 128 validation rows.
        Assert.Contains("test_accuracy: 0.6406", o.ToString());
        Assert.Contains("weighted avg", o.ToString());
        Assert.True(File.Exists(t.File("m.json")));
    }
}
