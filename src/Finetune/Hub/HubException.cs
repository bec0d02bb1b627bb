namespace Finetune.Hub;

/// <summary>What the Hub (or its absence) answered, finer than <see cref="ErrorKind"/>, so callers can react.</summary>
public enum HubErrorCode
{
    /// <summary>No such repository (404 RepoNotFound, or 401 for a private repository without access).</summary>
    RepoNotFound,
    /// <summary>The repository exists but not the branch, tag or commit asked for (404 RevisionNotFound).</summary>
    RevisionNotFound,
    /// <summary>The repository and revision exist but not the file (404 EntryNotFound).</summary>
    EntryNotFound,
    /// <summary>A gated repository whose conditions the token's owner has not accepted (401/403 GatedRepo).</summary>
    GatedRepo,
    /// <summary>The token was rejected (401 with invalid credentials).</summary>
    Unauthorized,
    /// <summary>Access refused for another reason (403), or the repository is disabled.</summary>
    Forbidden,
    /// <summary>The Hub could not be reached (refused connection, DNS, timeout) and the cache lacks the file.</summary>
    NoNetwork,
    /// <summary>Offline mode is on and the cache lacks the file.</summary>
    OfflineMiss,
    /// <summary>The downloaded bytes do not match the announced size or sha256.</summary>
    ChecksumMismatch,
    /// <summary>Any other HTTP failure (5xx after retries, 400, unexpected answers).</summary>
    Http,
}

/// <summary>A Hub failure: a <see cref="FinetuneException"/> (so the CLI maps it to an exit code) with its cause.</summary>
public sealed class HubException : FinetuneException
{
    public HubException(ErrorKind kind, HubErrorCode code, string message, int? httpStatus = null, Exception? inner = null)
        : base(kind, message, inner)
    {
        Code = code;
        HttpStatus = httpStatus;
    }

    public HubErrorCode Code { get; }

    /// <summary>The HTTP status the Hub answered, when there was an answer.</summary>
    public int? HttpStatus { get; }

    /// <summary>The commit the Hub named in X-Repo-Commit (an EntryNotFound answer carries it), else null.</summary>
    public string? RepoCommit { get; internal init; }
}
