using System.CommandLine;

namespace Finetune.Cli.Commands;

/// <summary>
/// Runs a command body so that a <see cref="FinetuneException"/> becomes "error: message" on stderr and the
/// kind's exit code. System.CommandLine's default handler would otherwise catch it first and exit with 1.
/// </summary>
internal static class CliErrors
{
    public static int Guard(ParseResult parse, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (FinetuneException e)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
    }
}
