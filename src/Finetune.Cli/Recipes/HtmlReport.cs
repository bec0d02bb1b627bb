using System.Globalization;
using System.Net;
using System.Text;

namespace Finetune.Cli.Recipes;

/// <summary>
/// A self-contained report.html of a training run: loss curves, metric curves, the learning-rate schedule and the
/// confusion matrix as inline SVG, the classification report and the run settings. No scripts, no network.
/// </summary>
public static class HtmlReport
{
    private static readonly string[] Palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b" };

    /// <summary>A named series of (x, y) points.</summary>
    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);

    public static string Build(string title, IReadOnlyList<Dictionary<string, double>> logHistory, long[,]? confusion,
        IReadOnlyList<string>? labelNames, string? classificationReport, IReadOnlyDictionary<string, string> settings,
        IReadOnlyDictionary<string, double>? finalMetrics = null, string evalSplit = "validation")
    {
        // Evaluation on the test split (a dataset without validation split) is labelled as such.
        string evalLabel = evalSplit.Length > 0 ? char.ToUpperInvariant(evalSplit[0]) + evalSplit[1..] : "Validation";
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n<style>")
          .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}h1{font-size:22px}h2{font-size:17px;margin-top:28px}")
          .Append(".grid{display:flex;flex-wrap:wrap;gap:18px}.card{border:1px solid #ddd;border-radius:6px;padding:10px}")
          .Append("table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}")
          .Append("pre{background:#f7f7f7;padding:10px;border-radius:6px;font-size:13px}</style></head><body>\n");
        sb.Append("<h1>").Append(E(title)).Append("</h1>\n");

        var train = Points(logHistory, "loss", "step");
        var evalLoss = Points(logHistory, "eval_loss", "epoch");
        var lr = Points(logHistory, "learning_rate", "step");
        var metricNames = logHistory.SelectMany(e => e.Keys)
            .Where(k => k.StartsWith("eval_", StringComparison.Ordinal) && k != "eval_loss" && !k.Contains("runtime") && !k.Contains("per_second"))
            .Distinct().ToList();
        var metricSeries = metricNames.Select(k => new Series(k["eval_".Length..], Points(logHistory, k, "epoch"))).Where(s => s.Points.Count > 0).ToList();

        if (finalMetrics is { Count: > 0 })
        {
            sb.Append("<h2>Final metrics</h2>\n<table><tr>");
            foreach (var k in finalMetrics.Keys) sb.Append("<th>").Append(E(k)).Append("</th>");
            sb.Append("</tr><tr>");
            foreach (var v in finalMetrics.Values) sb.Append("<td>").Append(Num(v)).Append("</td>");
            sb.Append("</tr></table>\n");
        }

        AppendEpochTable(sb, logHistory, evalLabel);
        sb.Append("<h2>Curves</h2>\n<div class=\"grid\">\n");
        sb.Append(Card(LineChart("Training loss (per logged step)", "step", "loss", new[] { new Series("train loss", train) })));
        if (evalLoss.Count > 0) sb.Append(Card(LineChart(evalLabel + " loss (per evaluation)", "epoch", "loss", new[] { new Series(evalSplit + " loss", evalLoss) })));
        if (metricSeries.Count > 0) sb.Append(Card(LineChart(evalLabel + " metrics", "epoch", "value", metricSeries)));
        sb.Append(Card(LineChart("Learning rate", "step", "lr", new[] { new Series("learning rate", lr) })));
        sb.Append("</div>\n");

        if (confusion != null)
        {
            sb.Append("<h2>Confusion matrix</h2>\n<div class=\"card\" style=\"display:inline-block\">");
            sb.Append(ConfusionSvg(confusion, labelNames)).Append("</div>\n");
        }
        if (classificationReport != null)
            sb.Append("<h2>Classification report</h2>\n<pre>").Append(E(classificationReport)).Append("</pre>\n");

        sb.Append("<h2>Settings</h2>\n<table>");
        foreach (var (k, v) in settings) sb.Append("<tr><th style=\"text-align:left\">").Append(E(k)).Append("</th><td style=\"text-align:left\">").Append(E(v)).Append("</td></tr>");
        sb.Append("</table>\n</body></html>\n");
        return sb.ToString();
    }

    /// <summary>The per-epoch table: each evaluation with the mean of the training losses logged since the previous one.</summary>
    private static void AppendEpochTable(StringBuilder sb, IReadOnlyList<Dictionary<string, double>> history, string evalLabel)
    {
        var evals = history.Where(e => e.ContainsKey("eval_loss")).ToList();
        if (evals.Count == 0) return;
        var metrics = evals.SelectMany(e => e.Keys).Where(k => k.StartsWith("eval_", StringComparison.Ordinal) && k != "eval_loss"
            && !k.Contains("runtime") && !k.Contains("per_second")).Distinct().ToList();
        sb.Append("<h2>Per epoch</h2>\n<table><tr><th>Epoch</th><th>Step</th><th>Training Loss</th><th>").Append(E(evalLabel)).Append(" Loss</th>");
        foreach (string k in metrics) sb.Append("<th>").Append(E(k["eval_".Length..])).Append("</th>");
        sb.Append("</tr>\n");
        double previousStep = double.NegativeInfinity;
        foreach (var e in evals)
        {
            double step = e.GetValueOrDefault("step", double.NaN);
            var losses = history.Where(h => h.ContainsKey("loss") && !h.ContainsKey("train_loss") && h.GetValueOrDefault("step") > previousStep && h.GetValueOrDefault("step") <= step)
                .Select(h => h["loss"]).ToList();
            previousStep = step;
            sb.Append("<tr><td>").Append(Num(e.GetValueOrDefault("epoch", double.NaN))).Append("</td><td>").Append(Num(step)).Append("</td><td>")
              .Append(losses.Count > 0 ? Num(losses.Average()) : "No log").Append("</td><td>").Append(Num(e["eval_loss"])).Append("</td>");
            foreach (string k in metrics) sb.Append("<td>").Append(e.TryGetValue(k, out double v) ? Num(v) : "-").Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");
    }

    private static string Card(string inner) => "<div class=\"card\">" + inner + "</div>\n";

    private static List<(double, double)> Points(IReadOnlyList<Dictionary<string, double>> history, string key, string xKey) =>
        history.Where(e => e.ContainsKey(key) && e.ContainsKey(xKey) && !(key == "loss" && e.ContainsKey("train_loss")))
               .Select(e => (e[xKey], e[key])).ToList();

    /// <summary>An SVG line chart with axes, ticks and a legend.</summary>
    public static string LineChart(string title, string xLabel, string yLabel, IReadOnlyList<Series> series)
    {
        const int w = 440, left = 62, right = 14, bottom = 44;
        // The legend sits in its own rows between the title and the plot, so it never covers a curve.
        int top = 30 + 14 * series.Count, h = 250 + 14 * series.Count;
        var all = series.SelectMany(s => s.Points).ToList();
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{E(title)}\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{w / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\">{E(title)}</text>");
        if (all.Count == 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{w / 2}\" y=\"{h / 2}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#888\">no data</text></svg>");
            return sb.ToString();
        }
        double x0 = all.Min(p => p.X), x1 = all.Max(p => p.X), y0 = all.Min(p => p.Y), y1 = all.Max(p => p.Y);
        if (x1 == x0) { x0 -= 0.5; x1 += 0.5; }
        if (y1 == y0) { double pad = Math.Abs(y0) * 0.05 + 1e-12; y0 -= pad; y1 += pad; }
        double pw = w - left - right, ph = h - top - bottom;
        double Sx(double x) => left + (x - x0) / (x1 - x0) * pw;
        double Sy(double y) => top + (1 - (y - y0) / (y1 - y0)) * ph;
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>");
        for (int i = 0; i <= 4; i++)
        {
            double yv = y0 + (y1 - y0) * i / 4;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" x2=\"{left + pw}\" y1=\"{F(Sy(yv))}\" y2=\"{F(Sy(yv))}\" stroke=\"#eee\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 4}\" y=\"{F(Sy(yv) + 4)}\" text-anchor=\"end\" font-size=\"10\">{Num(yv)}</text>");
        }
        foreach (double xv in XTicks(x0, x1, integers: xLabel is "step" or "epoch"))
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Sx(xv))}\" y=\"{top + ph + 14}\" text-anchor=\"middle\" font-size=\"10\">{Num(xv)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + pw / 2}\" y=\"{h - 6}\" text-anchor=\"middle\" font-size=\"11\">{E(xLabel)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"12\" y=\"{top + ph / 2}\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 12 {top + ph / 2})\">{E(yLabel)}</text>");
        for (int s = 0; s < series.Count; s++)
        {
            string color = Palette[s % Palette.Length];
            var pts = series[s].Points;
            if (pts.Count == 0) continue;
            sb.Append("<polyline fill=\"none\" stroke=\"").Append(color).Append("\" stroke-width=\"1.8\" points=\"");
            foreach (var p in pts) sb.Append(F(Sx(p.X))).Append(',').Append(F(Sy(p.Y))).Append(' ');
            sb.Append("\"/>");
            if (pts.Count <= 30)
                foreach (var p in pts) sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(Sx(p.X))}\" cy=\"{F(Sy(p.Y))}\" r=\"2.5\" fill=\"{color}\"/>");
            int ly = 36 + s * 14;
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{ly - 8}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{left + 14}\" y=\"{ly + 1}\" font-size=\"10\">{E(series[s].Name)}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>Five evenly spaced ticks, or for steps and epochs whole numbers only (1, 2, 3, not 1.5).</summary>
    private static IEnumerable<double> XTicks(double x0, double x1, bool integers)
    {
        if (!integers)
        {
            for (int i = 0; i <= 4; i++) yield return x0 + (x1 - x0) * i / 4;
            yield break;
        }
        double first = Math.Ceiling(x0), last = Math.Floor(x1);
        if (last < first) yield break;
        double stride = Math.Max(1, Math.Ceiling((last - first) / 5));
        for (double v = first; v <= last; v += stride) yield return v;
    }

    /// <summary>The confusion matrix as an SVG heat map (rows true labels, columns predicted).</summary>
    public static string ConfusionSvg(long[,] m, IReadOnlyList<string>? names)
    {
        int k = m.GetLength(0);
        const int cell = 56, left = 110, top = 60;
        int w = left + k * cell + 20, h = top + k * cell + 20;
        long max = 1;
        foreach (long v in m) max = Math.Max(max, v);
        string Name(int i) => names != null && i < names.Count ? names[i] : i.ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"confusion matrix\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + k * cell / 2}\" y=\"16\" text-anchor=\"middle\" font-size=\"12\">predicted</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{top + k * cell / 2}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 {top + k * cell / 2})\">true</text>");
        for (int j = 0; j < k; j++)
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + j * cell + cell / 2}\" y=\"{top - 8}\" text-anchor=\"middle\" font-size=\"11\">{E(Name(j))}</text>");
        for (int i = 0; i < k; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{top + i * cell + cell / 2 + 4}\" text-anchor=\"end\" font-size=\"11\">{E(Name(i))}</text>");
            for (int j = 0; j < k; j++)
            {
                // One continuous scale (no jump in hue) from near-white to dark blue; a grey grid keeps equal shades apart.
                double t = (double)m[i, j] / max;
                int lightness = (int)Math.Round(97 - t * 65);
                string fill = $"hsl(215,70%,{lightness}%)";
                string ink = lightness < 58 ? "#fff" : "#000";
                sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left + j * cell}\" y=\"{top + i * cell}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#888\" stroke-width=\"1\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + j * cell + cell / 2}\" y=\"{top + i * cell + cell / 2 + 5}\" text-anchor=\"middle\" font-size=\"14\" fill=\"{ink}\">{m[i, j]}</text>");
            }
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Num(double v)
    {
        double a = Math.Abs(v);
        if (a != 0 && (a < 1e-3 || a >= 1e5)) return v.ToString("0.##e+0", CultureInfo.InvariantCulture);
        return v.ToString("0.####", CultureInfo.InvariantCulture);
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
