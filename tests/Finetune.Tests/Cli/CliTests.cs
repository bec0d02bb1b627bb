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

public class CliExitCodeTests
{
    [Fact]
    public void ALibraryErrorBecomesOneLineAndItsKindsExitCode()
    {
        // convert on a folder that does not exist: the library throws NotFound, the tool prints one line and exits 4.
        using var dir = new TempDir();
        var stderr = new StringWriter();
        int code = Program.Run(new[] { "convert", "--model", dir.File("no-such-model"), "--output", dir.File("out") }, new StringWriter(), stderr);
        Assert.Equal(4, code);
        Assert.StartsWith("error: ", stderr.ToString());
        Assert.Single(stderr.ToString().Trim().Split('\n'));
    }
}
