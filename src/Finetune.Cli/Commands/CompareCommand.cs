using System.CommandLine;
using System.Globalization;
using Finetune.Cli.Recipes;
using Finetune.Training;

namespace Finetune.Cli.Commands;

/// <summary>
/// `finetune compare --models A,B,...`: fine-tunes (or with --zero-shot evaluates as-is) each model with the same
/// recipe, each loaded exactly as `train --model X` would (its own weights and tokenizer), and prints one table:
/// model, parameters, accuracy, F1, train and eval time and throughput.
/// </summary>
internal sealed class CompareCommand : ICliCommand
{
    public Command Build()
    {
        var cli = new RecipeCli();
        var models = new Option<string>("--models") { Description = "Comma-separated model folders or Hub ids (or configs with --from-scratch).", Required = true };
        var zeroShot = new Option<bool>("--zero-shot") { Description = "Evaluate each model as it is, without fine-tuning." };
        var cmd = new Command("compare", "Fine-tune several models with one recipe and compare accuracy, F1 and speed.");
        cli.AddTo(cmd);
        cmd.Options.Add(models);
        cmd.Options.Add(zeroShot);
        cmd.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            var names = parse.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0) throw FinetuneException.Invalid("--models needs at least one model.");
            if (parse.GetValue(cli.Model) != null) throw FinetuneException.Invalid("compare takes its models from --models; drop --model.");
            var rows = new List<string[]>();
            string f1Header = "F1";
            for (int i = 0; i < names.Length; i++)
            {
                var recipe = cli.Bind(parse, Path.Combine("runs", "compare"), names[i]);
                recipe.ZeroShot = parse.GetValue(zeroShot);
                recipe.Args.OutputDir = Path.Combine(recipe.Args.OutputDir, (i + 1).ToString(CultureInfo.InvariantCulture) + "-" + FineTuneRecipe.ModelLabel(names[i]));
                recipe.Args.DisableTqdm = true;
                w.WriteLine($"[{i + 1}/{names.Length}] {names[i]}{(recipe.FromScratch ? " (from scratch)" : "")}: {(recipe.ZeroShot ? "evaluating as it is" : "fine-tuning")}");
                RecipeResult r;
                try
                {
                    r = FineTuneRecipe.Run(recipe, row => w.WriteLine($"  epoch {row.Epoch.ToString("0.##", CultureInfo.InvariantCulture)}: validation loss {RecipeCli.F4(row.ValidationLoss)}, accuracy {RecipeCli.F4(row.Accuracy)}, f1 {RecipeCli.F4(row.F1)}"), writeOutputs: !recipe.ZeroShot);
                }
                catch (Exception e) when (e is FinetuneException or IOException or UnauthorizedAccessException)
                {
                    if (rows.Count > 0)
                    {
                        w.WriteLine();
                        w.WriteLine($"Models compared before '{names[i]}' failed:");
                        Print(w, Header(f1Header), rows);
                    }
                    if (e is FinetuneException fe) throw new FinetuneException(fe.Kind, $"compare: model {i + 1} of {names.Length} ('{names[i]}'): {e.Message}", e);
                    throw;
                }
                if (i == 0 && r.Metrics != null) f1Header = r.Metrics.F1Header;
                double Metric(string key) => r.TestMetrics.TryGetValue("test_" + key, out double v) ? v : double.NaN;
                double evalPerSecond = r.EvalSamples / Math.Max(r.EvalSeconds, 1e-9);
                w.WriteLine($"  {r.TestSplit} ({r.EvalSamples} rows): accuracy {RecipeCli.F4(Metric("accuracy"))}, F1 {RecipeCli.F4(Metric("f1"))}, {r.EvalSeconds.ToString("0.00", CultureInfo.InvariantCulture)}s");
                rows.Add(new[]
                {
                    FineTuneRecipe.ModelLabel(names[i]),
                    r.NumParameters.ToString("N0", CultureInfo.InvariantCulture),
                    RecipeCli.F4(Metric("accuracy")),
                    RecipeCli.F4(Metric("f1")),
                    r.Train != null ? r.TrainSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s" : "-",
                    r.Train != null && r.Train.Metrics.TryGetValue("train_samples_per_second", out double sps) ? sps.ToString("0.0", CultureInfo.InvariantCulture) : "-",
                    r.EvalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + "s",
                    evalPerSecond.ToString("0.0", CultureInfo.InvariantCulture),
                });
            }
            w.WriteLine();
            Print(w, Header(f1Header), rows);
            return 0;
        });
        return cmd;
    }

    private static string[] Header(string f1) =>
        new[] { "model", "parameters", "accuracy", f1, "train time", "train samples/s", "eval time", "eval samples/s" };

    private static void Print(TextWriter w, string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, c) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[c].Length))).ToArray();
        w.WriteLine(string.Join(" | ", header.Select((h, c) => h.PadRight(widths[c]))));
        w.WriteLine(string.Join("-|-", widths.Select(x => new string('-', x))));
        foreach (var r in rows) w.WriteLine(string.Join(" | ", r.Select((v, c) => c == 0 ? v.PadRight(widths[c]) : v.PadLeft(widths[c]))));
    }
}
