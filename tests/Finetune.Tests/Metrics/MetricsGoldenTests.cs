using System.Text.Json;
using Finetune.Metrics;

namespace Finetune.Tests.Metrics;

public class MetricsGoldenTests
{
    private static JsonElement[] Cases(string file)
    {
        string path = SharedData.Require("golden/metrics/" + file);
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray().ToArray();
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    internal static void Close(double expected, double actual, string what, double rel = 1e-12)
    {
        if (double.IsNaN(expected)) { Assert.True(double.IsNaN(actual), what); return; }
        double tol = rel * Math.Abs(expected);
        Assert.True(Math.Abs(expected - actual) <= tol, $"{what}: expected {expected:R}, got {actual:R}");
    }

    [SkippableFact]
    public void ClassificationMetricsEqualSklearn()
    {
        foreach (var c in Cases("classification.json"))
        {
            string name = c.GetProperty("name").GetString()!;
            int[] yTrue = Ints(c.GetProperty("y_true")), yPred = Ints(c.GetProperty("y_pred"));
            Assert.Equal(Ints(c.GetProperty("labels_sorted_union")), ClassificationMetrics.SortedLabels(yTrue, yPred));
            Close(c.GetProperty("accuracy").GetDouble(), ClassificationMetrics.Accuracy(yTrue, yPred), name + " accuracy");
            foreach (var avg in c.GetProperty("averages").EnumerateObject())
            {
                var mode = Enum.Parse<Average>(avg.Name, ignoreCase: true);
                var got = ClassificationMetrics.PrecisionRecallF1(yTrue, yPred, mode);
                Close(avg.Value.GetProperty("precision").GetDouble(), got.Precision, $"{name} {avg.Name} precision");
                Close(avg.Value.GetProperty("recall").GetDouble(), got.Recall, $"{name} {avg.Name} recall");
                Close(avg.Value.GetProperty("f1").GetDouble(), got.F1, $"{name} {avg.Name} f1");
            }
            var per = c.GetProperty("per_class");
            var pc = ClassificationMetrics.PerClass(yTrue, yPred);
            Assert.Equal(Ints(per.GetProperty("labels")), pc.Labels);
            double[] p = Doubles(per.GetProperty("precision")), r = Doubles(per.GetProperty("recall")), f = Doubles(per.GetProperty("f1")), s = Doubles(per.GetProperty("support"));
            for (int i = 0; i < p.Length; i++)
            {
                Close(p[i], pc.Precision[i], $"{name} precision[{i}]");
                Close(r[i], pc.Recall[i], $"{name} recall[{i}]");
                Close(f[i], pc.F1[i], $"{name} f1[{i}]");
                Assert.Equal(s[i], pc.Support[i]);
            }
            var cm = c.GetProperty("confusion_matrix");
            long[,] m = ClassificationMetrics.ConfusionMatrix(yTrue, yPred);
            var rows = cm.GetProperty("matrix").EnumerateArray().Select(Ints).ToArray();
            Assert.Equal(rows.Length, m.GetLength(0));
            for (int i = 0; i < rows.Length; i++)
                for (int j = 0; j < rows.Length; j++) Assert.Equal(rows[i][j], m[i, j]);
            Close(c.GetProperty("matthews_corrcoef").GetDouble(), ClassificationMetrics.MatthewsCorrcoef(yTrue, yPred), name + " mcc");
        }
    }

    [SkippableFact]
    public void ClassificationReportTextIsByteExactAndTheDictionaryMatches()
    {
        foreach (var c in Cases("classification.json"))
        {
            string name = c.GetProperty("name").GetString()!;
            var rep = c.GetProperty("classification_report");
            string[] names = rep.GetProperty("target_names").EnumerateArray().Select(x => x.GetString()!).ToArray();
            var report = ClassificationReport.Build(Ints(c.GetProperty("y_true")), Ints(c.GetProperty("y_pred")), names);
            Assert.Equal(rep.GetProperty("text").GetString(), report.ToText());
            Assert.Equal(rep.GetProperty("text_digits4").GetString(), report.ToText(4));

            var dict = report.ToDictionary();
            var expected = rep.GetProperty("dict");
            Assert.Equal(expected.EnumerateObject().Select(p => p.Name), dict.Keys);
            foreach (var entry in expected.EnumerateObject())
            {
                if (entry.Value.ValueKind == JsonValueKind.Number)
                {
                    Close(entry.Value.GetDouble(), (double)dict[entry.Name], $"{name} {entry.Name}");
                    continue;
                }
                var row = (Dictionary<string, object>)dict[entry.Name];
                foreach (var field in entry.Value.EnumerateObject())
                {
                    if (field.Name == "support")
                    {
                        // Python writes an int support as "7" and sklearn's float support as "7.0"; the type must agree.
                        bool isFloat = field.Value.GetRawText().Contains('.');
                        Assert.Equal(isFloat ? typeof(double) : typeof(long), row["support"].GetType());
                        Assert.Equal(field.Value.GetDouble(), Convert.ToDouble(row["support"]));
                    }
                    else Close(field.Value.GetDouble(), (double)row[field.Name], $"{name} {entry.Name} {field.Name}");
                }
            }
        }
    }

    [SkippableFact]
    public void PearsonAndSpearmanEqualScipy()
    {
        foreach (var c in Cases("regression.json"))
        {
            string name = c.GetProperty("name").GetString()!;
            double[] labels = Doubles(c.GetProperty("labels")), preds = Doubles(c.GetProperty("predictions"));
            var pe = RegressionMetrics.Pearson(labels, preds);
            var sp = RegressionMetrics.Spearman(labels, preds);
            Close(c.GetProperty("pearsonr").GetProperty("statistic").GetDouble(), pe.Statistic, name + " pearson");
            Close(c.GetProperty("pearsonr").GetProperty("pvalue").GetDouble(), pe.PValue, name + " pearson p");
            Close(c.GetProperty("spearmanr").GetProperty("statistic").GetDouble(), sp.Statistic, name + " spearman");
            Close(c.GetProperty("spearmanr").GetProperty("pvalue").GetDouble(), sp.PValue, name + " spearman p");
        }
    }
}
