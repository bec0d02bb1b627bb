using System.CommandLine;
using Finetune.Cli;

namespace Finetune.Tests.Cli;

/// <summary>
/// Whatever escapes a command (a bug, not bad input) is exit 1 and one line naming the command and its input; the
/// stack trace only with --debug. Before the top-level handler such exceptions aborted the runtime (exit 134).
/// </summary>
public class UnexpectedFailureTests
{
    private static (int Code, string Err) RunWith(Action<string> body, params string[] args)
    {
        var root = Program.BuildRoot();
        var input = new Option<string>("--input");
        var boom = new Command("boom", "fails on purpose");
        boom.Options.Add(input);
        boom.SetAction(parse => body(parse.GetValue(input)!));
        root.Subcommands.Add(boom);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(root, args, stdout, stderr);
        return (code, stderr.ToString());
    }

    [Fact]
    public void AnExceptionInACommandIsExitOneWithOneLineAndNoTrace()
    {
        var (code, err) = RunWith(_ => throw new InvalidOperationException("the bug"), "boom", "--input", "data.jsonl");
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error: finetune boom failed unexpectedly on --input data.jsonl: InvalidOperationException: the bug", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void AnExceptionInAParallelBodyIsCaughtToo()
    {
        var (code, err) = RunWith(_ => Parallel.For(0, 8, i => { if (i == 5) throw new NullReferenceException("in a worker"); }), "boom", "--input", "x");
        Assert.Equal(1, code);
        Assert.Contains("NullReferenceException: in a worker", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void AnInvalidInputErrorFromAParallelBodyKeepsItsExitCode()
    {
        var (code, err) = RunWith(_ => Parallel.For(0, 8, i => { if (i == 3) throw FinetuneException.Invalid("rows.jsonl line 4: bad"); }), "boom", "--input", "rows.jsonl");
        Assert.Equal(3, code);
        Assert.Equal("error: rows.jsonl line 4: bad", err.Trim());
    }

    [Fact]
    public void DebugAddsTheStackTrace()
    {
        var (code, err) = RunWith(_ => throw new InvalidOperationException("the bug"), "boom", "--input", "data.jsonl", "--debug");
        Assert.Equal(1, code);
        Assert.Contains("   at ", err);
    }
}
