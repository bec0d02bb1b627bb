namespace Finetune;

/// <summary>What went wrong, so that the command line can map it to an exit code.</summary>
public enum ErrorKind
{
    /// <summary>A file or value the user supplied is malformed (bad CSV row, corrupt safetensors, bad JSON).</summary>
    InvalidInput,
    /// <summary>A file, model, dataset, column or label that was asked for does not exist.</summary>
    NotFound,
    /// <summary>Reading or writing failed at the operating-system level (disk full, permission denied).</summary>
    Io,
    /// <summary>A network request failed (no network, HTTP error, checksum mismatch).</summary>
    Network,
    /// <summary>The request is well-formed but not supported (an unknown dtype, a ZSTD page).</summary>
    Unsupported,
}

/// <summary>
/// The one exception type the library throws for problems a user can cause. Its message is a single sentence
/// that names the file, line, column or tensor at fault; the CLI prints it and exits with <see cref="ExitCode"/>.
/// </summary>
public class FinetuneException : Exception
{
    public FinetuneException(ErrorKind kind, string message, Exception? inner = null) : base(message, inner) => Kind = kind;

    public ErrorKind Kind { get; }

    /// <summary>Process exit code for this kind of error (see README "Exit codes").</summary>
    public int ExitCode => Kind switch
    {
        ErrorKind.InvalidInput => 3,
        ErrorKind.NotFound => 4,
        ErrorKind.Io => 5,
        ErrorKind.Network => 6,
        ErrorKind.Unsupported => 7,
        _ => 1,
    };

    public static FinetuneException Invalid(string message, Exception? inner = null) => new(ErrorKind.InvalidInput, message, inner);
    public static FinetuneException Missing(string message, Exception? inner = null) => new(ErrorKind.NotFound, message, inner);
}
