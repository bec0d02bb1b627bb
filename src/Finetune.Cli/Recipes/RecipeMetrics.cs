using Finetune.Metrics;
using Finetune.Training;

namespace Finetune.Cli.Recipes;

/// <summary>
/// The metrics a recipe computes at each evaluation, and which F1 "f1" is. By default a GLUE dataset gets its
/// task's set, as evaluate.load("glue", task) computes it (mrpc/qqp: accuracy + binary F1; cola: Matthews
/// correlation; the others: accuracy); any other dataset gets accuracy with macro precision, recall and F1.
/// </summary>
public sealed class RecipeMetrics
{
    private readonly List<Func<int[], int[], IEnumerable<KeyValuePair<string, double>>>> parts = new();

    private RecipeMetrics(string spec) => Spec = spec;

    /// <summary>The comma-separated names this set was built from, e.g. "glue/mrpc" or "accuracy,f1_macro".</summary>
    public string Spec { get; }

    /// <summary>The averaging of the "f1" key (binary, macro, weighted, micro), or null when the set has no F1.</summary>
    public string? F1Average { get; private set; }

    /// <summary>The column title of the F1: "F1 (binary)", "F1 (macro)"...</summary>
    public string F1Header => F1Average == null ? "F1" : $"F1 ({F1Average})";

    public const string Help = "accuracy, f1_macro, f1_binary, f1_weighted, f1_micro (each with precision and recall of the same averaging), matthews_correlation, glue/<task> (glue: the dataset's task)";

    /// <summary>The metrics of <paramref name="spec"/> (comma-separated, see <see cref="Help"/>), or the dataset's default.</summary>
    public static RecipeMetrics For(string? spec, string dataset, string? datasetConfig)
    {
        string? glueTask = GlueTask(dataset, datasetConfig);
        spec = string.IsNullOrWhiteSpace(spec) ? glueTask != null ? "glue/" + glueTask : "accuracy,f1_macro" : spec;
        var m = new RecipeMetrics(spec);
        foreach (string raw in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string name = raw.ToLowerInvariant();
            if (name == "accuracy") m.parts.Add((y, p) => [new("accuracy", ClassificationMetrics.Accuracy(y, p))]);
            else if (name is "matthews_correlation" or "mcc") m.parts.Add((y, p) => [new("matthews_correlation", ClassificationMetrics.MatthewsCorrcoef(y, p))]);
            else if (name == "f1" || name.StartsWith("f1_", StringComparison.Ordinal)) m.AddF1(name == "f1" ? "macro" : name[3..]);
            else if (name == "glue" || name.StartsWith("glue/", StringComparison.Ordinal))
            {
                string task = name == "glue" ? glueTask ?? throw FinetuneException.Invalid("--metric glue needs a GLUE dataset, or name the task: glue/mrpc.") : name[5..];
                if (!GlueMetrics.Tasks.Contains(task)) throw FinetuneException.Invalid($"Unknown GLUE task '{task}' in --metric; expected one of {string.Join(", ", GlueMetrics.Tasks)}.");
                if (task == "stsb") throw new FinetuneException(ErrorKind.Unsupported, "glue/stsb is a regression task (Pearson and Spearman); the classification recipe cannot score it.");
                if (task is "mrpc" or "qqp") m.SetF1("binary");
                m.parts.Add((y, p) => GlueMetrics.Compute(task, p, y));
            }
            else throw FinetuneException.Invalid($"Unknown metric '{raw}'; expected {Help}.");
        }
        return m;
    }

    private void SetF1(string average)
    {
        if (F1Average != null && F1Average != average)
            throw FinetuneException.Invalid($"--metric asks for two F1 averagings ({F1Average} and {average}); choose one.");
        F1Average = average;
    }

    private void AddF1(string average)
    {
        var avg = average switch
        {
            "macro" => Average.Macro,
            "binary" => Average.Binary,
            "weighted" => Average.Weighted,
            "micro" => Average.Micro,
            _ => throw FinetuneException.Invalid($"Unknown F1 averaging 'f1_{average}'; expected f1_macro, f1_binary, f1_weighted or f1_micro."),
        };
        SetF1(average);
        parts.Add((y, p) =>
        {
            var prf = ClassificationMetrics.PrecisionRecallF1(y, p, avg);
            return [new("precision", prf.Precision), new("recall", prf.Recall), new("f1", prf.F1)];
        });
    }

    /// <summary>The Trainer's compute_metrics: every metric of the set on the argmax predictions.</summary>
    public Dictionary<string, double> Compute(EvalPrediction p)
    {
        int[] pred = p.ArgMax();
        int[] labels = p.LabelIds ?? throw FinetuneException.Invalid("Classification metrics need integer labels.");
        var result = new Dictionary<string, double>();
        foreach (var part in parts)
            foreach (var (k, v) in part(labels, pred)) result[k] = v;
        return result;
    }

    /// <summary>The GLUE task of "glue/mrpc" or ("glue", "mrpc"), else null.</summary>
    public static string? GlueTask(string dataset, string? config)
    {
        string d = dataset.Trim().ToLowerInvariant();
        if (d.StartsWith("glue/", StringComparison.Ordinal)) return d[5..];
        if (d == "glue" && config != null) return config.Trim().ToLowerInvariant();
        return null;
    }
}
