using System.Diagnostics;
using System.Text.Json;
using Finetune.Metrics;
using Finetune.Cli.Recipes;
using Finetune.Training;

namespace Finetune.Tests.Training;

public class HtmlReportTests
{
    private static string BuildFromGolden(string dir)
    {
        string path = SharedData.Require("golden/training/bs16_e2/log_history.json");
        var history = JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray()
            .Select(e => e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble())).ToList();
        int[] yTrue = { 0, 0, 1, 1, 1, 0, 1, 0 }, yPred = { 0, 1, 1, 1, 0, 0, 1, 0 };
        var report = ClassificationReport.Build(yTrue, yPred, new[] { "neg", "pos" });
        string html = HtmlReport.Build("golden bs16_e2", history, ClassificationMetrics.ConfusionMatrix(yTrue, yPred), new[] { "neg", "pos" },
            report.ToText(), new Dictionary<string, string> { ["learning_rate"] = "0.0005" }, new Dictionary<string, double> { ["test_accuracy"] = 0.75 });
        string file = Path.Combine(dir, "report.html");
        File.WriteAllText(file, html);
        return file;
    }

    [SkippableFact]
    public void ReportIsSelfContainedWithCurvesConfusionMatrixAndSettings()
    {
        using var t = new TempDir();
        string html = File.ReadAllText(BuildFromGolden(t.Path));
        Assert.Equal(5, html.Split("<svg").Length - 1); // training loss, eval loss, metrics, learning rate, confusion matrix
        Assert.Contains("aria-label=\"confusion matrix\"", html);
        Assert.Contains("Learning rate", html);
        Assert.Contains("weighted avg", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
        Assert.DoesNotContain("https://", html);
    }

    [SkippableFact]
    public void HeadlessChromiumRendersTheReport()
    {
        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);
        Skip.If(chromium == null, "headless Chromium is not installed (Debian package 'chromium'): this test screenshots report.html with it");
        using var t = new TempDir();
        string file = BuildFromGolden(t.Path);
        string png = t.File("report.png");
        string common = $"--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir={t.File("profile")}";
        Run(chromium!, $"{common} --window-size=1280,1800 --screenshot={png} file://{file}");
        Assert.True(File.Exists(png), "no screenshot written");
        byte[] bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.True(bytes.Length > 20_000, $"screenshot is only {bytes.Length} bytes: the page looks empty");
        string dom = Run(chromium!, $"{common} --dump-dom file://{file}");
        Assert.Contains("<polyline", dom);
        Assert.Contains("confusion matrix", dom);
    }

    private static string Run(string exe, string arguments)
    {
        var psi = new ProcessStartInfo(exe, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(90_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("chromium did not finish within 90 s");
        }
        return stdout.Result;
    }
}
