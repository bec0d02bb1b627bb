using System.Globalization;
using System.Text;

namespace Finetune.Metrics;

/// <summary>One row of a classification report.</summary>
public readonly record struct ReportRow(double Precision, double Recall, double F1Score, long Support);

/// <summary>
/// sklearn 1.2's classification_report (zero_division = 0): per-label rows, accuracy, macro avg and weighted avg,
/// as text byte for byte and as the output_dict dictionary.
/// </summary>
public sealed class ClassificationReport
{
    private ClassificationReport(string[] names, PerClassScores perClass, PrecisionRecallF1 micro, PrecisionRecallF1 macro, PrecisionRecallF1 weighted, long total)
    {
        // sklearn's dictionary takes "accuracy" from the micro precision but its text prints the micro F1, which can
        // differ from the accuracy in the last bit (2pr/(p+r) with p = r) and so round differently.
        Accuracy = micro.Precision;
        accuracyAsF1 = micro.F1;
        TargetNames = names;
        PerClass = perClass;
        MacroAvg = new ReportRow(macro.Precision, macro.Recall, macro.F1, total);
        WeightedAvg = new ReportRow(weighted.Precision, weighted.Recall, weighted.F1, total);
    }

    private readonly double accuracyAsF1;

    public IReadOnlyList<string> TargetNames { get; }
    public PerClassScores PerClass { get; }
    public double Accuracy { get; }
    public ReportRow MacroAvg { get; }
    public ReportRow WeightedAvg { get; }

    /// <summary>Builds the report; target names default to the labels as text, one per sorted label.</summary>
    public static ClassificationReport Build(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, IReadOnlyList<string>? targetNames = null)
    {
        PerClassScores per = ClassificationMetrics.PerClass(yTrue, yPred);
        string[] names = targetNames?.ToArray() ?? per.Labels.Select(l => l.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (names.Length != per.Labels.Count)
            throw FinetuneException.Invalid($"The report has {per.Labels.Count} labels but {names.Length} target names were given.");
        long total = 0;
        foreach (long s in per.Support) total += s;
        return new ClassificationReport(names, per, ClassificationMetrics.PrecisionRecallF1(yTrue, yPred, Average.Micro),
            ClassificationMetrics.PrecisionRecallF1(yTrue, yPred, Average.Macro),
            ClassificationMetrics.PrecisionRecallF1(yTrue, yPred, Average.Weighted), total);
    }

    /// <summary>The report text exactly as sklearn prints it with this many digits (sklearn's default is 2).</summary>
    public string ToText(int digits = 2)
    {
        const string lastHeading = "weighted avg";
        int width = Math.Max(Math.Max(TargetNames.Max(n => n.Length), lastHeading.Length), digits);
        var sb = new StringBuilder();
        sb.Append(new string(' ', width)).Append(' ');
        foreach (string h in new[] { "precision", "recall", "f1-score", "support" }) sb.Append(' ').Append(h.PadLeft(9));
        sb.Append("\n\n");
        for (int i = 0; i < TargetNames.Count; i++)
            AppendRow(sb, TargetNames[i], PerClass.Precision[i], PerClass.Recall[i], PerClass.F1[i], PerClass.Support[i], width, digits);
        sb.Append('\n');
        sb.Append("accuracy".PadLeft(width)).Append(' ');
        sb.Append(' ').Append(new string(' ', 9)).Append(' ').Append(new string(' ', 9));
        sb.Append(' ').Append(PyFormat.Fixed(accuracyAsF1, digits).PadLeft(9));
        sb.Append(' ').Append(SupportText(MacroAvg.Support).PadLeft(9)).Append('\n');
        AppendRow(sb, "macro avg", MacroAvg.Precision, MacroAvg.Recall, MacroAvg.F1Score, MacroAvg.Support, width, digits);
        AppendRow(sb, lastHeading, WeightedAvg.Precision, WeightedAvg.Recall, WeightedAvg.F1Score, WeightedAvg.Support, width, digits);
        return sb.ToString();
    }

    public override string ToString() => ToText();

    /// <summary>
    /// sklearn's output_dict form: each target name and "macro avg"/"weighted avg" map to
    /// {precision, recall, f1-score, support}; "accuracy" maps to a double. Supports are long, or double in
    /// sklearn's float case (see <see cref="PerClassScores.SupportIsFloat"/>).
    /// </summary>
    public Dictionary<string, object> ToDictionary()
    {
        var d = new Dictionary<string, object>();
        for (int i = 0; i < TargetNames.Count; i++)
            d[TargetNames[i]] = Entry(PerClass.Precision[i], PerClass.Recall[i], PerClass.F1[i], PerClass.Support[i]);
        d["accuracy"] = Accuracy;
        d["macro avg"] = Entry(MacroAvg.Precision, MacroAvg.Recall, MacroAvg.F1Score, MacroAvg.Support);
        d["weighted avg"] = Entry(WeightedAvg.Precision, WeightedAvg.Recall, WeightedAvg.F1Score, WeightedAvg.Support);
        return d;
    }

    private Dictionary<string, object> Entry(double p, double r, double f, long support) => new()
    {
        ["precision"] = p,
        ["recall"] = r,
        ["f1-score"] = f,
        ["support"] = PerClass.SupportIsFloat ? (object)(double)support : support,
    };

    private void AppendRow(StringBuilder sb, string name, double p, double r, double f, long support, int width, int digits)
    {
        sb.Append(name.PadLeft(width)).Append(' ');
        sb.Append(' ').Append(PyFormat.Fixed(p, digits).PadLeft(9));
        sb.Append(' ').Append(PyFormat.Fixed(r, digits).PadLeft(9));
        sb.Append(' ').Append(PyFormat.Fixed(f, digits).PadLeft(9));
        sb.Append(' ').Append(SupportText(support).PadLeft(9)).Append('\n');
    }

    private string SupportText(long support) =>
        PerClass.SupportIsFloat ? PyFormat.Repr(support) : support.ToString(CultureInfo.InvariantCulture);
}
