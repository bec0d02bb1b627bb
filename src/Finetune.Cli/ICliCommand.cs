using System.CommandLine;

namespace Finetune.Cli;

/// <summary>
/// One top-level `finetune` sub-command. Program discovers every implementation in this assembly, so a new
/// command is one new file under Commands/ and nothing else changes.
/// </summary>
public interface ICliCommand
{
    Command Build();
}
