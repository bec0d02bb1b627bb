using System.Text.Json;

namespace Finetune.Tests.Cli;

public class GlueRecipeTests
{
    /// <summary>The reference run's small fine-tuned bert with bert-base-uncased's tokenizer (same vocabulary).</summary>
    private static string[] Model() =>
        ["--model", SharedData.Require("golden/training/bs16_e2/final"), "--tokenizer", SharedData.Require("models/bert-base-uncased")];

    [SkippableFact]
    public void MrpcReportsBinaryF1AsEvaluateGlueDoesAndMetricChoosesMacro()
    {
        string root = SharedData.Require("datasets");
        using var t = new TempDir();
        var r = CliRunner.Run([.. new[] { "evaluate", "--dataset", "glue/mrpc", "--data-root", root, "--max-eval-samples", "96", "--metrics-file", t.File("glue.json") }, .. Model()]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("f1 is binary F1", r.Out);
        using (var doc = JsonDocument.Parse(File.ReadAllText(t.File("glue.json"))))
        {
            var m = doc.RootElement;
            Assert.Equal("binary", m.GetProperty("metric").GetProperty("f1_average").GetString());
            var split = m.GetProperty(m.EnumerateObject().First(p => p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("test_f1", out _)).Name);
            // evaluate.load("glue", "mrpc"): f1 is sklearn's binary F1, the F1 of class 1 ("equivalent") in the report.
            double binary = m.GetProperty("classification_report").GetProperty("equivalent").GetProperty("f1-score").GetDouble();
            Assert.Equal(binary, split.GetProperty("test_f1").GetDouble(), 12);
            Assert.False(split.TryGetProperty("test_precision", out _)); // the GLUE set is accuracy + F1 only
        }

        r = CliRunner.Run([.. new[] { "evaluate", "--dataset", "glue/mrpc", "--data-root", root, "--max-eval-samples", "96", "--metric", "accuracy,f1_macro", "--metrics-file", t.File("macro.json") }, .. Model()]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        using (var doc = JsonDocument.Parse(File.ReadAllText(t.File("macro.json"))))
        {
            var m = doc.RootElement;
            Assert.Equal("macro", m.GetProperty("metric").GetProperty("f1_average").GetString());
            var split = m.GetProperty(m.EnumerateObject().First(p => p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("test_f1", out _)).Name);
            double macro = m.GetProperty("classification_report").GetProperty("macro avg").GetProperty("f1-score").GetDouble();
            Assert.Equal(macro, split.GetProperty("test_f1").GetDouble(), 12);
        }
        r = CliRunner.Run([.. new[] { "evaluate", "--dataset", "glue/mrpc", "--data-root", root, "--metric", "f1_macro,glue/mrpc" }, .. Model()]);
        Assert.Equal(3, r.Code); // two F1 averagings in one set
    }

    [SkippableFact]
    public void Sst2TrainsPredictsItsUnlabelledTestSplitAndReportsOnValidation()
    {
        string root = SharedData.Require("datasets");
        using var t = new TempDir();
        var r = CliRunner.Run([.. new[] { "train", "--dataset", "glue/sst2", "--data-root", root, "--max-train-samples", "32", "--max-eval-samples", "24",
            "--num-train-epochs", "1", "--save-strategy", "no", "--disable-tqdm", "--output-dir", t.Path }, .. Model()]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("Accuracy | F1", r.Out);
        // run_glue.py's predict_results_sst2.txt: a header, then index and label name per test row.
        var lines = File.ReadAllLines(t.File("predict_results_sst2.txt"));
        Assert.Equal("index\tprediction", lines[0]);
        Assert.Equal(25, lines.Length);
        for (int i = 1; i < lines.Length; i++)
        {
            var cells = lines[i].Split('\t');
            Assert.Equal((i - 1).ToString(), cells[0]);
            Assert.Contains(cells[1], new[] { "negative", "positive" });
        }
        Assert.Equal(24, File.ReadAllLines(t.File("predict_results_sst2.jsonl")).Length);
        using var doc = JsonDocument.Parse(File.ReadAllText(t.File("metrics.json")));
        Assert.True(doc.RootElement.TryGetProperty("validation", out var v));
        Assert.True(v.TryGetProperty("test_accuracy", out _));
        Assert.False(doc.RootElement.TryGetProperty("test", out _));
    }
}
