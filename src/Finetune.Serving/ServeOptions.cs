namespace Finetune.Serving;

/// <summary>
/// What `finetune serve` takes, with text-embeddings-inference's defaults: where to listen, how many tokens one
/// forward pass may hold, how many requests may wait, how many inputs one request may carry.
/// </summary>
public sealed record ServeOptions
{
    /// <summary>A model folder or a Hub id.</summary>
    public required string Model { get; init; }
    /// <summary>Loopback unless told otherwise, so a model is never exposed by accident.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); the bound URL is in <see cref="ModelServer.Url"/>.</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Tokens (summed over the rows) one dynamic batch may hold.</summary>
    public int MaxBatchTokens { get; init; } = 16384;
    /// <summary>Requests admitted at once (queued or running); one more is answered 429.</summary>
    public int MaxConcurrentRequests { get; init; } = 512;
    /// <summary>Inputs one request may carry.</summary>
    public int MaxClientBatchSize { get; init; } = 32;
    /// <summary>When set, every route but /health needs `Authorization: Bearer KEY`.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Request bodies above this many bytes are refused before they are read whole (TEI's payload limit).</summary>
    public long MaxBodyBytes { get; init; } = 2_000_000;
    /// <summary>Hub revision of <see cref="Model"/>.</summary>
    public string? Revision { get; init; }
    /// <summary>How long shutdown waits for in-flight requests.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>One clear error for a setting that cannot work.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw FinetuneException.Invalid($"--port must be between 0 and 65535, not {Port}.");
        if (MaxBatchTokens < 1) throw FinetuneException.Invalid($"--max-batch-tokens must be at least 1, not {MaxBatchTokens}.");
        if (MaxConcurrentRequests < 1) throw FinetuneException.Invalid($"--max-concurrent-requests must be at least 1, not {MaxConcurrentRequests}.");
        if (MaxClientBatchSize < 1) throw FinetuneException.Invalid($"--max-client-batch-size must be at least 1, not {MaxClientBatchSize}.");
        if (ApiKey is { Length: 0 }) throw FinetuneException.Invalid("--api-key must not be empty.");
        if (MaxBodyBytes < 1) throw FinetuneException.Invalid($"The body size limit must be positive, not {MaxBodyBytes}.");
    }
}
