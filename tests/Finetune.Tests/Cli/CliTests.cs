using Finetune.Cli;

namespace Finetune.Tests.Cli;

public class CliTests
{
    [Fact]
    public void HelpListsTheCommandsAndExitsZero()
    {
        var stdout = new StringWriter();
        int code = Program.Run(new[] { "--help" }, stdout, new StringWriter());
        Assert.Equal(0, code);
        Assert.Contains("version", stdout.ToString());
    }

    [Fact]
    public void AnUnknownCommandIsAUsageErrorWithANonZeroExitCode()
    {
        var stderr = new StringWriter();
        int code = Program.Run(new[] { "no-such-command" }, new StringWriter(), stderr);
        Assert.NotEqual(0, code);
    }
}
