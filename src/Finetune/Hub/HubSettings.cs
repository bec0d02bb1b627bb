namespace Finetune.Hub;

/// <summary>
/// Where and how the Hub is reached: endpoint, cache folder, token, offline mode, retry policy. Read from the same
/// environment variables huggingface_hub reads (<see cref="FromEnvironment"/>), so Python and Finetune agree on one
/// cache; tests build one explicitly instead of changing the process environment.
/// </summary>
public sealed record HubSettings
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Base URL of the Hub, without a trailing slash (HF_ENDPOINT).</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>The hub cache folder holding models--*/datasets--* (HF_HUB_CACHE).</summary>
    public string CacheDir { get; init; } = DefaultCacheDir(Environment.GetEnvironmentVariable);

    /// <summary>Bearer token for private and gated repositories (HF_TOKEN or the token file), or null.</summary>
    public string? Token { get; init; }

    /// <summary>No network at all: files come from the cache only (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE).</summary>
    public bool Offline { get; init; }

    /// <summary>Retries after a 429/5xx answer, a refused connection or a timeout, before giving up.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First wait between retries; it doubles each time up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Time allowed for a metadata (HEAD) or API request (HF_HUB_ETAG_TIMEOUT, default 10 s).</summary>
    public TimeSpan MetadataTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest silence allowed while a file streams in (HF_HUB_DOWNLOAD_TIMEOUT, default 10 s).</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long to wait for another process that holds the download lock of the same file.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public string UserAgent { get; init; } = "finetune/" + typeof(HubSettings).Assembly.GetName().Version;

    /// <summary>Settings from the process environment, exactly as huggingface_hub resolves them.</summary>
    public static HubSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    // Flows with the logical call context (async continuations, Task.Run), so parallel callers never see each other's.
    private static readonly AsyncLocal<HubSettings?> Ambient = new();

    /// <summary>
    /// The settings every name lookup without explicit settings uses (<c>FromPretrained</c>, <c>LoadDataset</c>,
    /// <c>new HubClient()</c>): those set by <see cref="Use"/> in this call context, else the environment's.
    /// </summary>
    public static HubSettings Current => Ambient.Value ?? FromEnvironment();

    /// <summary>
    /// Makes <paramref name="settings"/> <see cref="Current"/> for this call context until the result is disposed
    /// (a test's own cache and endpoint, without touching the process environment).
    /// </summary>
    public static IDisposable Use(HubSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var scope = new Scope(Ambient.Value);
        Ambient.Value = settings;
        return scope;
    }

    private sealed class Scope(HubSettings? previous) : IDisposable
    {
        public void Dispose() => Ambient.Value = previous;
    }

    /// <summary>Settings from an arbitrary variable lookup (tests pass a dictionary's TryGetValue).</summary>
    public static HubSettings FromEnvironment(Func<string, string?> env)
    {
        string home = HfHome(env);
        string endpoint = NonEmpty(env("HF_ENDPOINT")) ?? DefaultEndpoint;
        // huggingface_hub reads HF_HUB_OFFLINE first and only falls back to TRANSFORMERS_OFFLINE when it is unset.
        bool offline = IsTrue(NonEmpty(env("HF_HUB_OFFLINE")) ?? env("TRANSFORMERS_OFFLINE"));
        return new HubSettings
        {
            Endpoint = endpoint.TrimEnd('/'),
            CacheDir = DefaultCacheDir(env),
            Token = ReadToken(env, home),
            Offline = offline,
            MetadataTimeout = Seconds(env("HF_HUB_ETAG_TIMEOUT")) ?? TimeSpan.FromSeconds(10),
            DownloadTimeout = Seconds(env("HF_HUB_DOWNLOAD_TIMEOUT")) ?? TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>$HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.</summary>
    public static string HfHome(Func<string, string?> env)
    {
        string? home = NonEmpty(env("HF_HOME"));
        if (home != null) return ExpandUser(home, env);
        string xdg = NonEmpty(env("XDG_CACHE_HOME")) ?? Path.Combine(UserHome(env), ".cache");
        return Path.Combine(ExpandUser(xdg, env), "huggingface");
    }

    /// <summary>$HF_HUB_CACHE, else the legacy $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub.</summary>
    public static string DefaultCacheDir(Func<string, string?> env)
    {
        string? dir = NonEmpty(env("HF_HUB_CACHE")) ?? NonEmpty(env("HUGGINGFACE_HUB_CACHE"));
        return dir != null ? ExpandUser(dir, env) : Path.Combine(HfHome(env), "hub");
    }

    /// <summary>$HF_TOKEN (or the legacy $HUGGING_FACE_HUB_TOKEN), else the file $HF_TOKEN_PATH or $HF_HOME/token.</summary>
    public static string? ReadToken(Func<string, string?> env, string hfHome)
    {
        string? token = NonEmpty(env("HF_TOKEN")?.Trim()) ?? NonEmpty(env("HUGGING_FACE_HUB_TOKEN")?.Trim());
        if (token != null) return token;
        string path = NonEmpty(env("HF_TOKEN_PATH")) is { } p ? ExpandUser(p, env) : Path.Combine(hfHome, "token");
        try
        {
            return File.Exists(path) ? NonEmpty(File.ReadAllText(path).Trim()) : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    // huggingface_hub's truth test: "1", "ON", "YES", "TRUE" in any case.
    internal static bool IsTrue(string? value) =>
        value != null && value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static TimeSpan? Seconds(string? value) =>
        double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0
            ? TimeSpan.FromSeconds(s) : null;

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static string UserHome(Func<string, string?> env) =>
        NonEmpty(env("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private static string ExpandUser(string path, Func<string, string?> env) =>
        path == "~" ? UserHome(env)
        : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(UserHome(env), path[2..])
        : path;
}
