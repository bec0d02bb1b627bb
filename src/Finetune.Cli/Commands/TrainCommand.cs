using System.CommandLine;
using Finetune.Training;

namespace Finetune.Cli.Commands;

/// <summary>
/// `finetune train`: fine-tunes a model on a dataset with the Trainer, printing the per-epoch table, then the
/// test split's classification report and confusion matrix; writes the model, metrics.json and report.html.
/// </summary>
internal sealed class TrainCommand : ICliCommand
{
    public Command Build()
    {
        var cli = new RecipeCli();
        var cmd = new Command("train", "Fine-tune a model on a dataset (with no options: all-MiniLM-L6-v2 on rotten_tomatoes, 3 epochs, batch 32, lr 5e-5, warmup ratio 0.1, weight decay 0.01, max length 128).");
        cli.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var recipe = cli.Bind(parse, Path.Combine("runs", "train"));
            output.WriteLine($"Training {recipe.Model}{(recipe.FromScratch ? " (from scratch)" : "")} on {recipe.Dataset}{(recipe.DatasetConfig != null ? "/" + recipe.DatasetConfig : "")}; output in {recipe.Args.OutputDir}");
            bool header = false;
            var result = FineTuneRecipe.Run(recipe, row =>
            {
                if (!header) { output.WriteLine(); RecipeCli.PrintEpochHeader(output); header = true; }
                RecipeCli.PrintEpochRow(output, row);
            }, progress: output);
            output.WriteLine();
            if (result.Train != null)
                output.WriteLine($"global_step {result.Train.GlobalStep}, training_loss {RecipeCli.F4(result.Train.TrainingLoss)}, train time {result.TrainSeconds:0.0}s");
            output.WriteLine($"Classification report ({result.TestSplit} split, {result.EvalSamples} rows):");
            output.WriteLine(result.Report.ToText());
            output.WriteLine("Confusion matrix:");
            RecipeCli.PrintConfusion(output, result.ConfusionMatrix, result.LabelNames);
            output.WriteLine();
            output.WriteLine($"Saved model, metrics.json and report.html in {Path.GetFullPath(recipe.Args.OutputDir)}");
            return 0;
        });
        return cmd;
    }
}
