namespace Finetune.Hub;

/// <summary>Progress of one file's download, reported as bytes arrive.</summary>
public readonly record struct HubProgress(string RepoId, string Filename, long BytesDownloaded, long? TotalBytes, bool Done);

/// <summary>What a HEAD on a file's resolve URL tells: the commit, the etag (blob name), the size and where to GET it.</summary>
public sealed record HubFileMetadata(string CommitHash, string Etag, long Size, string Location);

/// <summary>
/// Downloads files from the Hugging Face Hub into huggingface_hub's cache, with its semantics: a branch or tag is
/// resolved to a commit by a HEAD request on every call (a commit hash already cached needs no request), a file
/// known absent is remembered under .no_exist, and when the Hub cannot be reached (or offline mode is on) a cached
/// copy of the same revision is used instead.
/// </summary>
public sealed partial class HubClient : IDisposable
{
    private readonly HubHttp _http;

    public HubClient(HubSettings? settings = null, HttpMessageHandler? handler = null)
    {
        Settings = settings ?? HubSettings.Current;
        _http = new HubHttp(Settings, handler);
    }

    public HubSettings Settings { get; }

    /// <summary>Called as each file downloads (not for files already cached).</summary>
    public Action<HubProgress>? Progress { get; set; }

    public void Dispose() => _http.Dispose();

    /// <summary>The resolve URL of a file: {endpoint}/[datasets/]{repo}/resolve/{revision}/{file}.</summary>
    public string FileUrl(string repoId, string filename, string revision = "main", RepoType type = RepoType.Model) =>
        $"{Settings.Endpoint}/{type.UrlPrefix()}{repoId}/resolve/{Uri.EscapeDataString(revision)}/{EscapePath(filename)}";

    /// <summary>The cache folder of a repository (it may not exist yet).</summary>
    public string RepoCacheFolder(string repoId, RepoType type = RepoType.Model) =>
        CacheLayout.StorageFolder(Settings.CacheDir, repoId, type);

    /// <summary>Path of a file in the cache for a revision, or null when it is not cached (no request is made).</summary>
    public string? TryLoadFromCache(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model)
    {
        string storage = RepoCacheFolder(repoId, type);
        string? commit = CacheLayout.CachedCommit(storage, revision ?? "main");
        if (commit == null) return null;
        string pointer = CacheLayout.PointerPath(storage, commit, filename);
        return CacheLayout.PointerExists(pointer) ? pointer : null;
    }

    /// <summary>True when the cache records that the file does not exist at that revision.</summary>
    public bool IsKnownMissing(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model)
    {
        string storage = RepoCacheFolder(repoId, type);
        string? commit = CacheLayout.CachedCommit(storage, revision ?? "main");
        return commit != null && File.Exists(CacheLayout.NoExistPath(storage, commit, filename));
    }

    /// <summary>
    /// HEAD the file (a GET where HEAD is not allowed): commit, etag, size and download location, following only
    /// relative redirects.
    /// </summary>
    public HubFileMetadata GetFileMetadata(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default) =>
        GetFileMetadataAsync(repoId, filename, revision, type, ct).GetAwaiter().GetResult();

    public async Task<HubFileMetadata> GetFileMetadataAsync(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default)
    {
        revision ??= "main";
        var subject = new RequestSubject(repoId, type, revision, filename);
        if (Settings.Offline)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.OfflineMiss, $"Offline mode is on (HF_HUB_OFFLINE): cannot ask {Settings.Endpoint} about {HubHttp.Describe(subject)}.");
        string url = FileUrl(repoId, filename, revision, type);
        var (response, finalUrl) = await _http.SendAsync(HttpMethod.Head, url, followAbsolute: false, subject, ct: ct).ConfigureAwait(false);
        if ((int)response.StatusCode is 405 or 501)
        {
            // A mirror without HEAD: a GET gives the same headers; its body is left unread.
            response.Dispose();
            (response, finalUrl) = await _http.SendAsync(HttpMethod.Get, url, followAbsolute: false, subject, ct: ct).ConfigureAwait(false);
        }
        using (response)
        {
            _http.EnsureSuccess(response, subject, finalUrl);
            string? commit = HubHttp.Header(response, "X-Repo-Commit");
            string? etag = CacheLayout.NormalizeEtag(HubHttp.Header(response, "X-Linked-Etag") ?? HubHttp.Header(response, "ETag"));
            long? size = HubHttp.LongHeader(response, "X-Linked-Size") ?? response.Content.Headers.ContentLength;
            string location = HubHttp.Header(response, "Location") is { } loc ? new Uri(new Uri(finalUrl), loc).ToString() : finalUrl;
            if (commit == null || string.IsNullOrEmpty(etag) || size == null)
            {
                string missing = commit == null ? "X-Repo-Commit" : string.IsNullOrEmpty(etag) ? "ETag" : "Content-Length";
                throw new HubException(ErrorKind.Network, HubErrorCode.Http,
                    $"{finalUrl} answered without a {missing} header, so it does not look like a Hugging Face Hub (check HF_ENDPOINT, proxy and firewall).");
            }
            return new HubFileMetadata(commit, etag, size.Value, location);
        }
    }

    /// <summary>
    /// hf_hub_download: the cached path snapshots/{commit}/{file} of one file, downloading it when needed.
    /// Throws <see cref="HubException"/> (NotFound for a missing repository, revision or file; Network otherwise).
    /// </summary>
    public string Download(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default) =>
        DownloadAsync(repoId, filename, revision, type, ct).GetAwaiter().GetResult();

    public async Task<string> DownloadAsync(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default)
    {
        ValidateRepoId(repoId);
        revision ??= "main";
        string storage = RepoCacheFolder(repoId, type);

        // A commit hash already cached needs no request at all.
        if (CacheLayout.IsCommitHash(revision))
        {
            string cached = CacheLayout.PointerPath(storage, revision, filename);
            if (CacheLayout.PointerExists(cached)) return cached;
        }

        HubFileMetadata meta;
        try
        {
            meta = await GetFileMetadataAsync(repoId, filename, revision, type, ct).ConfigureAwait(false);
        }
        catch (HubException e) when (e.Code == HubErrorCode.EntryNotFound)
        {
            // Remember the absence under the commit the Hub named, so later lookups of that commit need no request.
            if (e.RepoCommit is { } commit && CacheLayout.IsCommitHash(commit))
            {
                CacheLayout.MarkMissing(storage, commit, filename);
                CacheLayout.WriteRef(storage, revision, commit);
            }
            throw;
        }
        catch (HubException e) when (e.Code is not (HubErrorCode.RevisionNotFound or HubErrorCode.EntryNotFound))
        {
            // No answer we can use (offline, no network, Hub down, private repo): fall back to the cache.
            string? cached = TryLoadFromCache(repoId, filename, revision, type);
            if (cached != null) return cached;
            throw FallbackError(e, storage, new RequestSubject(repoId, type, revision, filename));
        }

        string blob = CacheLayout.BlobPath(storage, meta.Etag);
        string pointer = CacheLayout.PointerPath(storage, meta.CommitHash, filename);
        CacheLayout.WriteRef(storage, revision, meta.CommitHash);
        if (CacheLayout.PointerExists(pointer)) return pointer;

        try
        {
            using var _ = FileLock.Acquire(CacheLayout.LockPath(Settings.CacheDir, repoId, type, meta.Etag), Settings.LockTimeout, ct);
            if (!File.Exists(blob))
                await DownloadBlobAsync(meta, blob, new RequestSubject(repoId, type, revision, filename), ct).ConfigureAwait(false);
            if (!CacheLayout.PointerExists(pointer)) CacheLayout.CreatePointer(blob, pointer);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException || (e is FinetuneException { Kind: ErrorKind.Io } && e is not HubException))
        {
            throw new FinetuneException(ErrorKind.Io,
                $"Cannot add '{filename}' of {type.Name()} '{repoId}' to the cache {storage} ({e.Message.TrimEnd('.')}).", e);
        }
        return pointer;
    }

    private Exception FallbackError(HubException e, string storage, RequestSubject subject)
    {
        if (e.Code == HubErrorCode.OfflineMiss)
            return new HubException(ErrorKind.NotFound, HubErrorCode.OfflineMiss,
                $"Offline mode is on (HF_HUB_OFFLINE) and {HubHttp.Describe(subject)} is not in the cache {storage}.", inner: e);
        if (e.Code is HubErrorCode.RepoNotFound or HubErrorCode.GatedRepo or HubErrorCode.Unauthorized or HubErrorCode.Forbidden)
            return e;
        if (e.Code == HubErrorCode.NoNetwork)
            return new HubException(ErrorKind.Network, HubErrorCode.NoNetwork,
                $"{e.Message.TrimEnd('.')}, and it is not in the cache {storage}; check the connection or HF_ENDPOINT.", e.HttpStatus, e);
        return e;
    }

    /// <summary>huggingface_hub's repo id rule: "name" or "org/name" of [A-Za-z0-9_.-], at most 96 characters, no "--" or "..".</summary>
    public static bool IsValidRepoId(string repoId)
    {
        if (string.IsNullOrEmpty(repoId) || repoId.Length > 96 || repoId.Contains("--") || repoId.Contains("..") || repoId.EndsWith(".git", StringComparison.Ordinal))
            return false;
        string[] parts = repoId.Split('/');
        if (parts.Length > 2) return false;
        foreach (string p in parts)
        {
            if (p.Length == 0 || p[0] is '-' or '.' || p[^1] is '-' or '.') return false;
            foreach (char c in p)
                if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')) return false;
        }
        return true;
    }

    private static void ValidateRepoId(string repoId)
    {
        if (!IsValidRepoId(repoId))
            throw FinetuneException.Invalid($"'{repoId}' is not a valid Hub repository id (expected 'name' or 'org/name' of letters, digits, '-', '_' and '.').");
    }

    private static string EscapePath(string filename) =>
        string.Join('/', filename.Split('/').Select(Uri.EscapeDataString));
}
