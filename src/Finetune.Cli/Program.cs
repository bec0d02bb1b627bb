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
        var err = stderr ?? Console.Error;
        try
        {
            var parse = root.Parse(args);
            // A usage mistake is one line and a pointer to --help (System.CommandLine would print the whole help first).
            if (parse.Errors.Count > 0 && !args.Any(a => a is "--help" or "-h" or "-?"))
            {
                // "Unrecognized command or argument 'x'" says more than the "Required command" that comes with it.
                var first = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
                err.WriteLine($"error: {first.Message}");
                err.WriteLine($"Run '{HelpCommand(parse)} --help' for the options.");
                return 2;
            }
            return parse.Invoke(config);
        }
        catch (UsageException e)
        {
            err.WriteLine($"error: {e.Message}");
            err.WriteLine("Run 'finetune <command> --help' for the options.");
            return 2;
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

    private static string HelpCommand(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command is RootCommand ? "finetune" : r.Command.Name);
        return string.Join(' ', names);
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
