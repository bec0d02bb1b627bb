using System.Runtime.InteropServices;

namespace Finetune.Cli;

/// <summary>
/// Turns the first SIGINT (Ctrl-C) or SIGTERM into a cancellation the trainer sees between two micro-batches, so the
/// run stops cleanly (no half-written checkpoint) and says where it stands; a second signal ends the process at once.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    /// <summary>128 + SIGINT, what shells report for a command ended by Ctrl-C.</summary>
    public const int ExitCode = 130;

    private readonly CancellationTokenSource cts = new();
    private readonly PosixSignalRegistration[] registrations;

    public InterruptSignals()
    {
        registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle),
        ];
    }

    public CancellationToken Token => cts.Token;

    private void Handle(PosixSignalContext context)
    {
        if (cts.IsCancellationRequested) return;   // the second signal: default handling ends the process
        context.Cancel = true;
        cts.Cancel();
    }

    public void Dispose()
    {
        foreach (var r in registrations) r.Dispose();
        cts.Dispose();
    }
}
