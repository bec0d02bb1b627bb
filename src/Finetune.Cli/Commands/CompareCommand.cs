using System.CommandLine;
using System.Globalization;
using Finetune.Training;

namespace Finetune.Cli.Commands;

/// <summary>
/// `finetune compare --models A,B,...`: fine-tunes (or with --zero-shot evaluates as-is) each model with the same
/// recipe and prints one table: model, parameters, macro-F1, accuracy, train time, eval time, samples/s.
/// </summary>
internal sealed class CompareCommand : ICliCommand
{
    public Command Build()
    {
        var cli = new RecipeCli();
        var models = new Option<string>("--models") { Description = "Comma-separated model folders (or configs with --from-scratch).", Required = true };
        var zeroShot = new Option<bool>("--zero-shot") { Description = "Evaluate each model as it is, without fine-tuning." };
        var cmd = new Command("compare", "Fine-tune several models with one recipe and compare macro-F1, accuracy and speed.");
        cli.AddTo(cmd);
        cmd.Options.Add(models);
        cmd.Options.Add(zeroShot);
        cmd.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            var names = parse.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length == 0) throw FinetuneException.Invalid("--models needs at least one model.");
            var rows = new List<string[]>();
            for (int i = 0; i < names.Length; i++)
            {
                var recipe = cli.Bind(parse, Path.Combine("runs", "compare"));
                recipe.Model = names[i];
                recipe.ZeroShot = parse.GetValue(zeroShot);
                recipe.Args.OutputDir = Path.Combine(recipe.Args.OutputDir, (i + 1).ToString(CultureInfo.InvariantCulture) + "-" + Label(names[i]));
                recipe.Args.DisableTqdm = true;
                w.WriteLine($"[{i + 1}/{names.Length}] {names[i]}");
                var r = FineTuneRecipe.Run(recipe, writeOutputs: !recipe.ZeroShot);
                double samplesPerSecond = r.Train != null && r.Train.Metrics.TryGetValue("train_samples_per_second", out double sps) ? sps : r.EvalSamples / Math.Max(r.EvalSeconds, 1e-9);
                rows.Add(new[]
                {
                    Label(names[i]),
                    r.NumParameters.ToString("N0", CultureInfo.InvariantCulture),
                    r.Report.MacroAvg.F1Score.ToString("0.0000", CultureInfo.InvariantCulture),
                    r.Report.Accuracy.ToString("0.0000", CultureInfo.InvariantCulture),
                    r.Train != null ? r.TrainSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s" : "-",
                    r.EvalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + "s",
                    samplesPerSecond.ToString("0.0", CultureInfo.InvariantCulture),
                });
            }
            w.WriteLine();
            Print(w, new[] { "model", "parameters", "macro-F1", "accuracy", "train time", "eval time", "samples/s" }, rows);
            return 0;
        });
        return cmd;
    }

    private static string Label(string path)
    {
        string p = Path.TrimEndingDirectorySeparator(path);
        string name = Path.GetFileName(p);
        return name == "config.json" ? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(p))!) : name;
    }

    private static void Print(TextWriter w, string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, c) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[c].Length))).ToArray();
        w.WriteLine(string.Join(" | ", header.Select((h, c) => h.PadRight(widths[c]))));
        w.WriteLine(string.Join("-|-", widths.Select(x => new string('-', x))));
        foreach (var r in rows) w.WriteLine(string.Join(" | ", r.Select((v, c) => c == 0 ? v.PadRight(widths[c]) : v.PadLeft(widths[c]))));
    }
}
