namespace Finetune.Cli;

/// <summary>Bad command-line usage (a value an option cannot take, options that cannot go together): exit 2.</summary>
public sealed class UsageException(string message, Exception? inner = null) : Exception(message, inner);
