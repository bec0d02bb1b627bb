using System.CommandLine;
using Finetune.Cli.Recipes;

namespace Finetune.Cli.Commands;

/// <summary>`finetune evaluate`: a trained model on a dataset split: classification report, confusion matrix, metrics.</summary>
internal sealed class EvaluateCommand : ICliCommand
{
    public Command Build()
    {
        var cli = new RecipeCli();
        var output = new Option<string?>("--metrics-file") { Description = "Also write the metrics as JSON to this file." };
        var cmd = new Command("evaluate", "Evaluate a model folder on a dataset split (default: the test split, else validation).");
        cli.AddTo(cmd, trainingArguments: false);
        cmd.Options.Add(output);
        cmd.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            var recipe = cli.Bind(parse, Path.Combine("runs", "evaluate"));
            var result = EvaluateRecipe.Run(recipe);
            w.WriteLine($"{recipe.Model} on {recipe.Dataset} ({result.TestSplit} split, {result.EvalSamples} rows)");
            if (result.Metrics is { } m) w.WriteLine($"  metrics: {m.Spec}{(m.F1Average != null ? $" (f1 is {m.F1Average} F1)" : "")}");
            foreach (var (k, v) in result.TestMetrics) w.WriteLine($"  {k}: {v.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)}");
            w.WriteLine();
            w.WriteLine(result.Report.ToText());
            w.WriteLine("Confusion matrix:");
            RecipeCli.PrintConfusion(w, result.ConfusionMatrix, result.LabelNames);
            if (parse.GetValue(output) is string file) FineTuneRecipe.WriteMetrics(result, file);
            return 0;
        });
        return cmd;
    }
}
