using System.CommandLine;
using System.Reflection;

namespace Finetune.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args);

    /// <summary>Runs the tool in-process (tests call this) and returns its exit code.</summary>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var root = BuildRoot();
        // Exceptions reach the handlers below (System.CommandLine's own handler would print a stack trace and exit 1),
        // so every command gets the same "error: ..." line and the exit code of its error kind.
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (stdout != null) config.Output = stdout;
        if (stderr != null) config.Error = stderr;
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (FinetuneException e)
        {
            (stderr ?? Console.Error).WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (IOException e)
        {
            (stderr ?? Console.Error).WriteLine($"error: {e.Message}");
            return 5;
        }
        catch (UnauthorizedAccessException e)
        {
            (stderr ?? Console.Error).WriteLine($"error: {e.Message}");
            return 5;
        }
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("finetune: fine-tune, evaluate, compare and serve transformer encoders for text classification.");
        var commands = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => ((ICliCommand)Activator.CreateInstance(t)!).Build())
            .OrderBy(c => c.Name, StringComparer.Ordinal);
        foreach (var c in commands) root.Subcommands.Add(c);
        return root;
    }
}
