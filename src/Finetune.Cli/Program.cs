using System.CommandLine;
using System.CommandLine.Parsing;
using System.Reflection;

namespace Finetune.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // A failure on a thread nobody joins would otherwise abort the runtime (exit 134 with a trace on stderr):
        // report it as every other unexpected failure is reported, and exit 1.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            Console.Error.WriteLine(UnexpectedLine(CommandName(args), InputOf(args), e.ExceptionObject as Exception, Debug(args)));
            Console.Error.Flush();
            Environment.Exit(1);
        };
        // The library writes nowhere itself: its warnings and an MPI rank's last words go to stderr here.
        FinetuneLog.Sink = Console.Error.WriteLine;
        FinetuneLog.Flush = () =>
        {
            Console.Out.Flush();
            Console.Error.Flush();
        };
        return Run(args);
    }

    /// <summary>Runs the tool in-process (tests call this) and returns its exit code.</summary>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null) => Run(BuildRoot(), args, stdout, stderr);

    /// <summary>Runs <paramref name="root"/> (tests add a deliberately failing command to it).</summary>
    internal static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        // Exceptions reach the handlers below (System.CommandLine's own handler would print a stack trace and exit 1),
        // so every command gets the same "error: ..." line and the exit code of its error kind.
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (stdout != null) config.Output = stdout;
        if (stderr != null) config.Error = stderr;
        TextWriter err = stderr ?? Console.Error;
        ParseResult? parse = null;
        try
        {
            parse = root.Parse(args);
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
        catch (Exception e)
        {
            // Parallel loops and tasks wrap what their bodies threw; the kind of the first failure decides.
            Exception inner = Unwrap(e);
            switch (inner)
            {
                case FinetuneException fe:
                    err.WriteLine($"error: {fe.Message}");
                    return fe.ExitCode;
                case IOException or UnauthorizedAccessException:
                    err.WriteLine($"error: {inner.Message}");
                    return 5;
                case UsageException ue:
                    err.WriteLine($"error: {ue.Message}");
                    return 2;
                default:
                    string command = parse?.CommandResult.Command is { } c && c != root ? CommandPath(parse) : CommandName(args);
                    err.WriteLine(UnexpectedLine(command, InputOf(args), inner, Debug(args)));
                    return 1;
            }
        }
    }

    /// <summary>The global flag that adds the stack trace to an unexpected failure (also FINETUNE_DEBUG=1).</summary>
    public static readonly Option<bool> DebugOption = new("--debug")
    {
        Description = "On an unexpected failure, print the stack trace too (also FINETUNE_DEBUG=1).",
        Recursive = true,
    };

    private static bool Debug(string[] args) =>
        args.Contains("--debug") || Environment.GetEnvironmentVariable("FINETUNE_DEBUG") is "1" or "true";

    private static string UnexpectedLine(string command, string input, Exception? e, bool debug)
    {
        string what = e == null ? "an unknown failure" : $"{e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}";
        string line = $"error: finetune {command} failed unexpectedly{(input.Length > 0 ? " on " + input : "")}: {what} (a bug; rerun with --debug for the stack trace)";
        return debug && e != null ? line + Environment.NewLine + e : line;
    }

    private static Exception Unwrap(Exception e)
    {
        while (true)
        {
            if (e is AggregateException { InnerExceptions.Count: > 0 } a) e = a.InnerExceptions[0];
            else if (e is TargetInvocationException { InnerException: { } ti }) e = ti;
            else if (e is TypeInitializationException { InnerException: { } ty }) e = ty;
            else return e;
        }
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r != null && r.Parent != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>The sub-command words before the first option (when parsing itself failed).</summary>
    private static string CommandName(string[] args)
    {
        var words = args.TakeWhile(a => !a.StartsWith('-')).Take(2).ToArray();
        return words.Length > 0 ? string.Join(' ', words) : "(no command)";
    }

    /// <summary>The files and models a command was given: values of the input options and positional arguments.</summary>
    private static string InputOf(string[] args)
    {
        string[] inputOptions = ["--input", "--model", "--models", "--dataset", "--tokenizer", "--config", "--resume-from-checkpoint", "--text"];
        var parts = new List<string>();
        for (int i = 0; i + 1 < args.Length; i++)
            if (inputOptions.Contains(args[i])) parts.Add($"{args[i]} {args[i + 1]}");
        // Positional arguments (dataset info NAME, download REPO_ID): words after the sub-command that follow no option.
        for (int i = 2; i < args.Length; i++)
            if (!args[i].StartsWith('-') && !args[i - 1].StartsWith('-')) parts.Add(args[i]);
        return string.Join(", ", parts);
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
        root.Options.Add(DebugOption);
        return root;
    }
}
