using System.Text.RegularExpressions;
using Finetune.Cli.Recipes;
using Finetune.Training;

namespace Finetune.Tests.Training;

/// <summary>What the report shows: whole-number step and epoch ticks, the per-epoch table, legends outside the plot.</summary>
public class HtmlReportLayoutTests
{
    private static readonly List<Dictionary<string, double>> History =
    [
        new() { ["loss"] = 0.7, ["learning_rate"] = 2e-5, ["step"] = 5, ["epoch"] = 0.5 },
        new() { ["loss"] = 0.6, ["learning_rate"] = 1.5e-5, ["step"] = 10, ["epoch"] = 1 },
        new() { ["eval_loss"] = 0.5, ["eval_accuracy"] = 0.75, ["step"] = 10, ["epoch"] = 1 },
        new() { ["loss"] = 0.4, ["learning_rate"] = 1e-5, ["step"] = 15, ["epoch"] = 1.5 },
        new() { ["loss"] = 0.2, ["learning_rate"] = 5e-6, ["step"] = 20, ["epoch"] = 2 },
        new() { ["eval_loss"] = 0.45, ["eval_accuracy"] = 0.8, ["step"] = 20, ["epoch"] = 2 },
    ];

    [Fact]
    public void EpochAxesHaveWholeNumberTicksAndThePerEpochTableIsThere()
    {
        string html = HtmlReport.Build("t", History, new long[,] { { 5, 1 }, { 2, 4 } }, ["neg", "pos"], null, new Dictionary<string, string>(), null, "test");
        // Epochs run 1..2: ticks 1 and 2, never 1.25 or 1.5.
        Assert.DoesNotContain(">1.25</text>", html);
        Assert.DoesNotContain(">1.5</text>", html);
        // One row per evaluation, the training loss the mean of the losses logged since the previous one.
        string table = html[html.IndexOf("<h2>Per epoch</h2>", StringComparison.Ordinal)..];
        table = table[..table.IndexOf("</table>", StringComparison.Ordinal)];
        Assert.Equal(3, Regex.Matches(table, "<tr>").Count);
        Assert.Contains("<th>Test Loss</th>", table);
        Assert.Contains("<td>0.65</td>", table);
        Assert.Contains("<td>0.3</td>", table);
        Assert.DoesNotContain("Validation", html);
    }

    [Fact]
    public void LegendsSitAboveThePlotAreaAndConfusionCellsAreOutlined()
    {
        var series = new[] { new HtmlReport.Series("a", [(0, 0), (1, 1)]), new HtmlReport.Series("b", [(0, 1), (1, 0)]) };
        string svg = HtmlReport.LineChart("t", "step", "v", series);
        var plot = Regex.Match(svg, "<rect x=\"(\\d+)\" y=\"(\\d+)\" width=\"[\\d.]+\" height=\"[\\d.]+\" fill=\"none\"");
        int plotTop = int.Parse(plot.Groups[2].Value);
        foreach (Match legend in Regex.Matches(svg, "<rect x=\"[\\d.]+\" y=\"(\\d+)\" width=\"10\" height=\"10\""))
            Assert.True(int.Parse(legend.Groups[1].Value) + 10 <= plotTop, $"legend at y={legend.Groups[1].Value} inside the plot starting at {plotTop}");
        string cm = HtmlReport.ConfusionSvg(new long[,] { { 5, 1 }, { 2, 4 } }, ["neg", "pos"]);
        var fills = Regex.Matches(cm, "fill=\"(hsl[^\"]+)\" stroke=\"#888\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(4, fills.Distinct().Count());
    }
}
