using System.CommandLine;
using System.Globalization;
using Finetune.Cli.Recipes;
using Finetune.Training;
using Finetune.Training.Distributed;

namespace Finetune.Cli.Commands;

/// <summary>
/// `finetune train`: fine-tunes a model on a dataset with the Trainer, printing the per-epoch table, then the
/// test split's classification report and confusion matrix; writes the model, metrics.json and report.html.
/// Under `mpirun -np N` it trains data-parallel over MPI; only rank 0 prints and writes.
/// </summary>
internal sealed class TrainCommand : ICliCommand
{
    public Command Build()
    {
        var cli = new RecipeCli();
        var cmd = new Command("train", "Fine-tune a model on a dataset (with no options: all-MiniLM-L6-v2 on rotten_tomatoes, 3 epochs, batch 32, lr 5e-5, warmup ratio 0.1, weight decay 0.01, max length 128).");
        cli.AddTo(cmd);
        var peft = new PeftCli();
        peft.AddTo(cmd);
        var distributed = new Option<string>("--distributed")
        {
            Description = "Data-parallel training: auto (MPI when started by mpirun with more than one rank), mpi, or none.",
            DefaultValueFactory = _ => "auto",
        };
        distributed.AcceptOnlyFromAmong("auto", "mpi", "none");
        var stepLog = new Option<string?>("--step-log") { Description = "Also write every optimizer step (step, lr, grad_norm, loss; unrounded) as JSON lines to this file." };
        cmd.Options.Add(distributed);
        cmd.Options.Add(stepLog);
        cmd.SetAction(parse =>
        {
            var recipe = cli.Bind(parse, Path.Combine("runs", "train"));
            peft.Bind(parse, recipe);
            using var comm = DistributedLaunch.Start(DistributedLaunch.ParseMode(parse.GetValue(distributed)));
            if (comm == null) return Run(parse, recipe, parse.GetValue(stepLog));
            recipe.Communicator = comm;
            try
            {
                return Run(parse, recipe, parse.GetValue(stepLog));
            }
            catch (Exception e)
            {
                // One rank failing must end all of them (the others would wait in the next collective).
                int code = e switch { FinetuneException f => f.ExitCode, IOException or UnauthorizedAccessException => 5, _ => 1 };
                parse.InvocationConfiguration.Error.WriteLine($"error: rank {comm.Rank}: {e.Message}");
                comm.Abort(code);
                return code;
            }
        });
        return cmd;
    }

    private static int Run(ParseResult parse, RecipeOptions recipe, string? stepLogPath)
    {
        var output = recipe.Communicator is { Rank: > 0 } ? TextWriter.Null : parse.InvocationConfiguration.Output;
        var world = recipe.Communicator is { } c ? $" on {c.Size} ranks (global batch {recipe.Args.TotalTrainBatchSize * c.Size})" : "";
        output.WriteLine($"Training {recipe.Model}{(recipe.FromScratch ? " (from scratch)" : "")} on {recipe.Dataset}{(recipe.DatasetConfig != null ? "/" + recipe.DatasetConfig : "")}{world}; output in {recipe.Args.OutputDir}");
        using var stepLog = stepLogPath != null && recipe.Communicator is not { Rank: > 0 } ? new StreamWriter(stepLogPath) : null;
        if (stepLog != null)
            recipe.OnStep = r => stepLog.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"step\": {r.Step}, \"lr\": {r.LrUsed:R}, \"grad_norm\": {r.GradNorm:R}, \"loss\": {r.Loss:R}}}"));
        bool header = false;
        string f1 = RecipeMetrics.For(recipe.Metric, recipe.Dataset, recipe.DatasetConfig).F1Header;
        using var interrupt = new InterruptSignals();
        recipe.Cancellation = interrupt.Token;
        RecipeResult result;
        try
        {
            result = FineTuneRecipe.Run(recipe, row =>
            {
                if (!header) { output.WriteLine(); RecipeCli.PrintEpochHeader(output, f1, row.EvalSplit); header = true; }
                RecipeCli.PrintEpochRow(output, row, f1);
            }, progress: output);
        }
        catch (TrainingInterruptedException e)
        {
            output.WriteLine();
            parse.InvocationConfiguration.Error.WriteLine(e.Message);
            return InterruptSignals.ExitCode;
        }
        output.WriteLine();
        if (result.Train != null)
            output.WriteLine($"global_step {result.Train.GlobalStep}, training_loss {RecipeCli.F4(result.Train.TrainingLoss)}, train time {result.TrainSeconds:0.0}s");
        output.WriteLine($"Classification report ({result.TestSplit} split, {result.EvalSamples} rows):");
        output.WriteLine(result.Report.ToText());
        output.WriteLine("Confusion matrix:");
        RecipeCli.PrintConfusion(output, result.ConfusionMatrix, result.LabelNames);
        if (result.PredictFile != null) output.WriteLine($"The '{result.PredictSplit}' split has no labels: predicted it into {result.PredictFile} (and .jsonl).");
        output.WriteLine();
        output.WriteLine($"Saved model, metrics.json and report.html in {Path.GetFullPath(recipe.Args.OutputDir)}");
        return 0;
    }
}
