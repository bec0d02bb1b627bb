using System.Diagnostics;

namespace Finetune;

/// <summary>
/// Where the library's notes, warnings and last words go (a bad FINETUNE_* variable, a skipped dataset row, an MPI
/// rank ending the job): the library never writes to the console itself. An application routes them (the CLI
/// writes them to stderr); by default they go to <see cref="Trace"/>.
/// </summary>
public static class FinetuneLog
{
    /// <summary>Receives each message as a whole line, prefixed "warning: ", "note: " or "error: ".</summary>
    public static Action<string> Sink { get; set; } = line => Trace.WriteLine(line);

    /// <summary>Called before the process ends at once (an MPI abort), so that what was written reaches its destination.</summary>
    public static Action Flush { get; set; } = () => Trace.Flush();

    public static void Write(string line) => Sink(line);
}
