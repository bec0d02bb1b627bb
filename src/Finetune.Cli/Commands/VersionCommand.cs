using System.CommandLine;
using System.Reflection;

namespace Finetune.Cli.Commands;

internal sealed class VersionCommand : ICliCommand
{
    public Command Build()
    {
        var cmd = new Command("version", "Print the library version and the hardware features the kernels use.");
        cmd.SetAction(parse =>
        {
            var v = typeof(FinetuneException).Assembly.GetName().Version;
            parse.InvocationConfiguration.Output.WriteLine($"finetune {v} (.NET {Environment.Version}, {Environment.ProcessorCount} cores, AVX-512F: {System.Runtime.Intrinsics.X86.Avx512F.IsSupported})");
            return 0;
        });
        return cmd;
    }
}
