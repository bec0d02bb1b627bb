using System.Globalization;

namespace Finetune.Tests.Cli;

public class CompareCommandTests
{
    private static double Value(string text, string key)
    {
        // evaluate prints "  test_accuracy: 0.6406"
        var line = text.Split('\n').First(l => l.TrimStart().StartsWith(key + ":", StringComparison.Ordinal));
        return double.Parse(line.Split(':')[1].Trim(), CultureInfo.InvariantCulture);
    }

    [SkippableFact]
    public void ZeroShotRowOfAFineTunedFolderEqualsEvaluateOnTheSameRows()
    {
        string root = SharedData.Require("golden/training");
        string final = Path.Combine(root, "bs16_e2/final");
        string data = Path.Combine(root, "data");
        var ev = CliRunner.Run("evaluate", "--model", final, "--dataset", data);
        Assert.True(ev.Code == 0, ev.Err + ev.Out);
        using var t = new TempDir();
        // The same folder twice: both rows must be the loaded model, not a random initialisation each.
        var cmp = CliRunner.Run("compare", "--models", final + "," + final, "--zero-shot", "--dataset", data, "--output-dir", t.Path);
        Assert.True(cmp.Code == 0, cmp.Err + cmp.Out);
        var lines = cmp.Out.Split('\n');
        int header = Array.FindIndex(lines, l => l.StartsWith("model ", StringComparison.Ordinal));
        Assert.True(header >= 0, cmp.Out);
        var columns = lines[header].Split('|').Select(c => c.Trim()).ToList();
        Assert.Contains("train samples/s", columns);
        Assert.Contains("eval samples/s", columns);
        int acc = columns.IndexOf("accuracy"), f1 = columns.FindIndex(c => c.StartsWith("F1", StringComparison.Ordinal));
        foreach (string row in new[] { lines[header + 2], lines[header + 3] })
        {
            var cells = row.Split('|').Select(c => c.Trim()).ToArray();
            Assert.Equal("final", cells[0]);
            Assert.Equal(Value(ev.Out, "test_accuracy"), double.Parse(cells[acc], CultureInfo.InvariantCulture), 4);
            Assert.Equal(Value(ev.Out, "test_f1"), double.Parse(cells[f1], CultureInfo.InvariantCulture), 4);
        }
        // final_eval_metrics.json of the reference run: accuracy 0.640625.
        Assert.Equal(0.640625, Value(ev.Out, "test_accuracy"), 4);
        // One progress line per model.
        Assert.Contains("[1/2] ", cmp.Out);
        Assert.Contains("[2/2] ", cmp.Out);
    }

    [SkippableFact]
    public void AFolderWithoutWeightsFailsNamingItAfterPrintingTheRowsDone()
    {
        string root = SharedData.Require("golden/training");
        string tiny = SharedData.Require("models/bert-tiny");
        var cmp = CliRunner.Run("compare", "--models", Path.Combine(root, "bs16_e2/final") + "," + tiny, "--zero-shot", "--dataset", Path.Combine(root, "data"));
        Assert.Equal(4, cmp.Code);
        Assert.Contains("bert-tiny", cmp.Err);
        Assert.Contains("No weights", cmp.Err);
        // The first model's row was printed before the failure.
        Assert.Contains("Models compared before", cmp.Out);
        Assert.Contains("final ", cmp.Out);
    }
}
