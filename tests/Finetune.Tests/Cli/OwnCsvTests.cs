using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Tests.Cli;

/// <summary>Tutorial (c): a user's own CSV with text labels and no test split, trained from the command line.</summary>
public class OwnCsvTests
{
    // Row i's label; sorted names (class_encode_column) are negative=0, neutral=1, positive=2.
    private static readonly string[] Labels = ["positive", "negative", "neutral", "positive", "negative", "neutral", "positive", "negative", "neutral", "positive"];

    private static string WriteCsv(TempDir t, string[]? labels = null)
    {
        labels ??= Labels;
        string path = t.File("reviews.csv");
        File.WriteAllLines(path, new[] { "review,sentiment" }.Concat(labels.Select((l, i) => $"\"review number {i}, {l} words\",{l}")));
        return path;
    }

    private static string[] Common(string csv, string output)
    {
        string tok = SharedData.Require("models/bert-base-uncased");
        string config = SharedData.Require("models/bert-tiny/config.json");
        return ["train", "--model", config, "--from-scratch", "--tokenizer", tok, "--dataset", csv, "--text-column", "review", "--label-column", "sentiment",
            "--num-train-epochs", "1", "--per-device-train-batch-size", "4", "--save-strategy", "no", "--disable-tqdm", "--output-dir", output];
    }

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    private static string[] Id2Label(string dir)
    {
        var map = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!["id2label"]!.AsObject();
        return Enumerable.Range(0, map.Count).Select(i => map[i.ToString()]!.GetValue<string>()).ToArray();
    }

    private static int Support(string dir, string label) =>
        Json(Path.Combine(dir, "metrics.json")).GetProperty("classification_report").TryGetProperty(label, out var row) ? row.GetProperty("support").GetInt32() : 0;

    [SkippableFact]
    public void TextLabelsAreClassEncodedAndTestSizeSplitsAsDatasetsDoes()
    {
        using var t = new TempDir();
        string csv = WriteCsv(t), run = t.File("run");
        var (code, stdout, err) = CliRunner.Run([.. Common(csv, run), "--test-size", "0.2"]);
        Assert.True(code == 0, err + stdout);
        Assert.Equal(new[] { "negative", "neutral", "positive" }, Id2Label(run));
        // train_test_split(test_size=0.2, seed=42): test = rows 5 and 6 of default_rng(42).permutation(10) = [5 6 0 7 3 2 4 9 1 8].
        Assert.Equal(1, Support(run, "neutral"));
        Assert.Equal(1, Support(run, "positive"));
        Assert.Equal(0, Support(run, "negative"));
        // The epochs were evaluated on that test part, and say so.
        Assert.Contains("Test Loss", stdout);
        Assert.DoesNotContain("Validation Loss", stdout);
        Assert.DoesNotContain("Validation", File.ReadAllText(Path.Combine(run, "report.html")));

        // --label-names fixes the order of the ids.
        string run2 = t.File("run2");
        (code, stdout, err) = CliRunner.Run([.. Common(csv, run2), "--test-size", "0.2", "--label-names", "positive,negative,neutral"]);
        Assert.True(code == 0, err + stdout);
        Assert.Equal(new[] { "positive", "negative", "neutral" }, Id2Label(run2));
    }

    [SkippableFact]
    public void AnUnknownLabelNamesTheFileRowAndValue()
    {
        using var t = new TempDir();
        string csv = WriteCsv(t);
        var (code, _, err) = CliRunner.Run([.. Common(csv, t.File("run")), "--test-size", "0.2", "--label-names", "positive,negative"]);
        Assert.Equal(3, code);
        Assert.Contains("reviews.csv", err);
        Assert.Contains("row 2", err);
        Assert.Contains("'neutral'", err);
    }

    [SkippableFact]
    public void SplitStringsSliceAsDatasetsReadsThem()
    {
        using var t = new TempDir();
        string csv = WriteCsv(t), run = t.File("run");
        var (code, stdout, err) = CliRunner.Run([.. Common(csv, run), "--train-split", "train[:80%]", "--test-split", "train[80%:]"]);
        Assert.True(code == 0, err + stdout);
        // Rows 8 and 9 (neutral, positive) are the test part; rows 0-7 train.
        Assert.Equal(1, Support(run, "neutral"));
        Assert.Equal(1, Support(run, "positive"));
        Assert.Equal(8, Json(Path.Combine(run, "train_results.json")).GetProperty("train_samples").GetDouble());
        Assert.Equal(2, Json(Path.Combine(run, "test_results.json")).GetProperty("test_samples").GetDouble());
    }

    [SkippableFact]
    public void ValidationSplitPercentageCutsTheFirstRowsOff()
    {
        using var t = new TempDir();
        string csv = WriteCsv(t), run = t.File("run");
        var (code, stdout, err) = CliRunner.Run([.. Common(csv, run), "--validation-split-percentage", "30", "--test-size", "2"]);
        Assert.True(code == 0, err + stdout);
        Assert.Contains("Validation Loss", stdout);
        // validation = train[:30%] = rows 0-2, then 2 of the remaining 7 rows are split off as test.
        Assert.Equal(3, Json(Path.Combine(run, "eval_results.json")).GetProperty("eval_samples").GetDouble());
        Assert.Equal(5, Json(Path.Combine(run, "train_results.json")).GetProperty("train_samples").GetDouble());
        Assert.Equal(2, Json(Path.Combine(run, "test_results.json")).GetProperty("test_samples").GetDouble());
    }

    [SkippableFact]
    public void TrainLeavesWhatTransformersExampleScriptsLeave()
    {
        using var t = new TempDir();
        string csv = WriteCsv(t), run = t.File("run");
        var (code, stdout, err) = CliRunner.Run([.. Common(csv, run), "--test-size", "0.2", "--logging-steps", "1"]);
        Assert.True(code == 0, err + stdout);
        var train = Json(Path.Combine(run, "train_results.json"));
        var test = Json(Path.Combine(run, "test_results.json"));
        var all = Json(Path.Combine(run, "all_results.json"));
        foreach (string k in new[] { "train_loss", "train_runtime", "train_samples_per_second", "train_steps_per_second", "epoch", "train_samples" })
            Assert.Equal(train.GetProperty(k).GetDouble(), all.GetProperty(k).GetDouble());
        foreach (string k in new[] { "test_accuracy", "test_f1", "test_loss", "test_samples" })
            Assert.Equal(test.GetProperty(k).GetDouble(), all.GetProperty(k).GetDouble());
        // save_metrics sorts the keys; save_state writes the whole log_history, the final train summary last.
        var keys = all.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
        var state = Json(Path.Combine(run, "trainer_state.json"));
        var history = state.GetProperty("log_history").EnumerateArray().ToArray();
        Assert.Equal(2, history.Count(e => e.TryGetProperty("loss", out _)));
        Assert.Equal(train.GetProperty("train_loss").GetDouble(), history[^1].GetProperty("train_loss").GetDouble());
        Assert.Equal(2, state.GetProperty("global_step").GetInt32());
        Assert.True(File.Exists(Path.Combine(run, "training_args.json")));
        // No validation split: nothing is called eval_results.
        Assert.False(File.Exists(Path.Combine(run, "eval_results.json")));
    }

    [SkippableFact]
    public void AnUnwritableOutputFolderFailsBeforeTraining()
    {
        using var t = new TempDir();
        string csv = WriteCsv(t);
        File.WriteAllText(t.File("blocker"), "a file where the output folder's parent should be");
        var (code, stdout, err) = CliRunner.Run([.. Common(csv, Path.Combine(t.File("blocker"), "run")), "--test-size", "0.2"]);
        Assert.Equal(5, code);
        Assert.Contains("not writable", err);
        Assert.DoesNotContain("Epoch", stdout);
    }

    [SkippableFact]
    public void ARobertaFolderTrainsWithItsOwnByteLevelTokenizer()
    {
        string roberta = SharedData.Require("models/roberta-base");
        using var t = new TempDir();
        string csv = WriteCsv(t), model = t.File("roberta-small"), run = t.File("run");
        Directory.CreateDirectory(model);
        foreach (string f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(roberta, f), Path.Combine(model, f));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(roberta, "config.json")))!.AsObject();
        config["num_hidden_layers"] = 1;
        config["hidden_size"] = 32;
        config["num_attention_heads"] = 2;
        config["intermediate_size"] = 37;
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        var (code, stdout, err) = CliRunner.Run("train", "--model", Path.Combine(model, "config.json"), "--from-scratch", "--dataset", csv,
            "--text-column", "review", "--label-column", "sentiment", "--test-size", "0.2", "--num-train-epochs", "1", "--save-strategy", "no",
            "--disable-tqdm", "--output-dir", run);
        Assert.True(code == 0, err + stdout);
        // The saved tokenizer is the folder's byte-level BPE (its merges), not a WordPiece vocabulary.
        bool bpe = File.Exists(Path.Combine(run, "merges.txt"))
            || (File.Exists(Path.Combine(run, "tokenizer.json")) && File.ReadAllText(Path.Combine(run, "tokenizer.json")).Contains("\"BPE\""));
        Assert.True(bpe, string.Join(", ", Directory.GetFiles(run).Select(Path.GetFileName)));
        Assert.False(File.Exists(Path.Combine(run, "vocab.txt")));
    }
}

/// <summary>Mistakes on the command line: exit 2 with one line first, and a folder that is not there is exit 4.</summary>
public class UsageErrorTests
{
    [Theory]
    [InlineData("train --no-such-option", "Unrecognized command or argument '--no-such-option'")]
    [InlineData("trian", "Unrecognized command or argument 'trian'")]
    [InlineData("train --per-device-train-batch-size many", "per_device_train_batch_size")]
    [InlineData("compare --zero-shot", "--models")]
    [InlineData("train --stratify-by-column label", "--test-size")]
    [InlineData("train --test-size 1.5", "--test-size")]
    public void BadUsageIsExitTwoWithTheErrorFirst(string line, string expected)
    {
        var (code, stdout, err) = CliRunner.Run(line.Split(' '));
        Assert.Equal(2, code);
        string first = err.Split('\n')[0];
        Assert.StartsWith("error: ", first);
        Assert.Contains(expected, first);
        Assert.Contains("--help", err);
        Assert.DoesNotContain("Options:", stdout + err);
    }

    [Fact]
    public void EvaluateHelpListsOnlyWhatEvaluateUses()
    {
        var (code, stdout, _) = CliRunner.Run("evaluate", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--per-device-eval-batch-size", stdout);
        Assert.Contains("--test-split", stdout);
        foreach (string trainOnly in new[] { "--learning-rate", "--num-train-epochs", "--from-scratch", "--max-train-samples", "--per-device-train-batch-size", "--config" })
            Assert.DoesNotContain(trainOnly + " ", stdout);
    }

    [Fact]
    public void APathLikeModelThatIsNotThereIsNoSuchFolder()
    {
        // "owncsv-usage-probe/typo": its first segment exists here, so it is a path, not a Hub id.
        string first = "owncsv-usage-probe-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(first);
        try
        {
            using var t = new TempDir();
            File.WriteAllLines(t.File("test.csv"), ["text,label", "good,1", "bad,0"]);
            var (code, _, err) = CliRunner.Run("evaluate", "--model", first + "/typo", "--dataset", t.Path);
            Assert.Equal(4, code);
            Assert.Contains("no such folder", err);
        }
        finally
        {
            Directory.Delete(first, recursive: true);
        }
    }

    [SkippableFact]
    public void EvaluateTokenizesOnlyTheSplitItScores()
    {
        string tok = SharedData.Require("models/bert-base-uncased");
        string config = SharedData.Require("models/bert-tiny/config.json");
        using var t = new TempDir();
        string data = t.File("data"), model = t.File("model");
        Directory.CreateDirectory(data);
        File.WriteAllLines(Path.Combine(data, "train.csv"), ["text,label", "a good one,1", "a bad one,0", "fine,1", "awful,0"]);
        var (code, stdout, err) = CliRunner.Run("train", "--model", config, "--from-scratch", "--tokenizer", tok, "--dataset", data, "--test-size", "2",
            "--num-train-epochs", "1", "--save-strategy", "no", "--disable-tqdm", "--output-dir", model);
        Assert.True(code == 0, err + stdout);
        // A training split without the text column cannot be tokenized; evaluate must not need it.
        File.WriteAllLines(Path.Combine(data, "train.csv"), ["note,label", "x,1", "y,0"]);
        File.WriteAllLines(Path.Combine(data, "test.csv"), ["text,label", "a good one,1", "awful,0", "fine,1"]);
        (code, stdout, err) = CliRunner.Run("evaluate", "--model", model, "--dataset", data);
        Assert.True(code == 0, err + stdout);
        Assert.Contains("test split, 3 rows", stdout);
    }
}
