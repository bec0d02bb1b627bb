using Finetune.Tests.Cli;

namespace Finetune.Tests.Fuzz;

/// <summary>What one run of a hostile input ended with: the exit code the tool would return and its message.</summary>
internal readonly record struct Outcome(int Code, string Message, long AllocatedBytes);

/// <summary>
/// Runs one hostile input on its own thread with a bound, so a case that would hang fails the test instead of
/// hanging it, and measures the managed bytes that thread allocated (an upper bound of what the case held).
/// </summary>
internal static class Bounded
{
    /// <summary>Generous on purpose: this is not a timing test, only a guard against hangs.</summary>
    public static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("FUZZ_CASE_SECONDS") is { } s ? double.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 30);

    /// <summary>The exit codes README documents for bad input (0 when the mutation happened to be harmless).</summary>
    public static readonly int[] DocumentedCodes = [0, 3, 4, 5, 7];

    /// <summary>The CLI in-process, bounded; its stderr is the message.</summary>
    public static Outcome Cli(params string[] args) => Run(() =>
    {
        var (code, _, err) = CliRunner.Run(args);
        return (code, err);
    }, "finetune " + string.Join(' ', args));

    /// <summary>
    /// A library call, bounded, mapped to the exit code the CLI would give: a FinetuneException's own code, 5 for
    /// an I/O error, and 1 (with the whole exception, for the failure message) for anything else.
    /// </summary>
    public static Outcome Library(Action act, string label) => Run(() =>
    {
        try
        {
            act();
            return (0, "");
        }
        catch (FinetuneException e)
        {
            return (e.ExitCode, e.Message);
        }
        catch (IOException e)
        {
            return (5, e.Message);
        }
        catch (Exception e)
        {
            return (1, e.ToString());
        }
    }, label);

    private static Outcome Run(Func<(int, string)> body, string label)
    {
        (int, string) result = (0, "");
        long allocated = 0;
        Exception? escaped = null;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { result = body(); }
            catch (Exception e) { escaped = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, 64 << 20)
        { IsBackground = true, Name = "hostile case" };
        thread.Start();
        if (!thread.Join(CaseLimit)) Assert.Fail($"{label} did not finish within {CaseLimit.TotalSeconds} s (a hang).");
        if (escaped != null) Assert.Fail($"{label} threw out of the tool: {escaped}");
        return new Outcome(result.Item1, result.Item2, allocated);
    }
}
