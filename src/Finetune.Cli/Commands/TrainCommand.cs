using System.CommandLine;

namespace Finetune.Cli.Commands;

// Placeholder until the Trainer lands (issue 6): the README's main-job command must work from the first commit,
// so `finetune train` says what exists and prints the tool's help instead of failing.
internal sealed class TrainCommand : ICliCommand
{
    public Command Build()
    {
        var cmd = new Command("train", "Fine-tune a model on a dataset (the Trainer is not built yet).");
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine("finetune train: the Trainer is not built yet; these commands are available:");
            output.WriteLine();
            return Program.Run(new[] { "--help" }, output, parse.InvocationConfiguration.Error);
        });
        return cmd;
    }
}
