namespace Finetune.Metrics;

/// <summary>
/// The metric sets of evaluate's "glue" metric: cola → matthews_correlation; stsb → pearson + spearmanr;
/// mrpc and qqp → accuracy + f1 (binary); sst2, mnli(_matched/_mismatched), qnli, rte, wnli, hans → accuracy.
/// </summary>
public static class GlueMetrics
{
    public static readonly IReadOnlyList<string> Tasks = new[]
    {
        "sst2", "mnli", "mnli_mismatched", "mnli_matched", "cola", "stsb", "mrpc", "qqp", "qnli", "rte", "wnli", "hans",
    };

    /// <summary>Metrics for a classification task; predictions and references are class ids.</summary>
    public static Dictionary<string, double> Compute(string task, ReadOnlySpan<int> predictions, ReadOnlySpan<int> references)
    {
        switch (Normalize(task))
        {
            case "cola":
                return new() { ["matthews_correlation"] = ClassificationMetrics.MatthewsCorrcoef(references, predictions) };
            case "mrpc":
            case "qqp":
                return new()
                {
                    ["accuracy"] = ClassificationMetrics.Accuracy(references, predictions),
                    ["f1"] = ClassificationMetrics.F1(references, predictions, Average.Binary),
                };
            case "stsb":
                throw FinetuneException.Invalid("The stsb task is a regression: pass float predictions and references.");
            default:
                return new() { ["accuracy"] = ClassificationMetrics.Accuracy(references, predictions) };
        }
    }

    /// <summary>Metrics for stsb (float scores).</summary>
    public static Dictionary<string, double> Compute(string task, ReadOnlySpan<double> predictions, ReadOnlySpan<double> references)
    {
        if (Normalize(task) != "stsb")
            throw FinetuneException.Invalid($"The GLUE task '{task}' is a classification task: pass integer class ids.");
        return new()
        {
            ["pearson"] = RegressionMetrics.Pearson(predictions, references).Statistic,
            ["spearmanr"] = RegressionMetrics.Spearman(predictions, references).Statistic,
        };
    }

    private static string Normalize(string task)
    {
        string t = task.Trim().ToLowerInvariant().Replace("-", "_");
        if (!Tasks.Contains(t))
            throw FinetuneException.Missing($"Unknown GLUE task '{task}'; expected one of {string.Join(", ", Tasks)}.");
        return t;
    }
}
