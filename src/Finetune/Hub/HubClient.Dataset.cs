using System.Text.Json;

namespace Finetune.Hub;

/// <summary>A repository's commit and file list at a revision, from GET /api/{type}s/{repo}/revision/{revision}.</summary>
public sealed record HubRepoInfo(string RepoId, RepoType Type, string CommitHash, IReadOnlyList<string> Files);

/// <summary>A dataset's local data files: the snapshot folder, the commit and each file's repo path and local path.</summary>
public sealed record HubDataset(string RepoId, string Revision, string CommitHash, string Folder, IReadOnlyList<string> Files)
{
    /// <summary>Absolute local paths of <see cref="Files"/>.</summary>
    public IReadOnlyList<string> LocalPaths => Files.Select(f => Path.Combine(Folder, CacheLayout.LocalRelative(f))).ToArray();
}

public sealed partial class HubClient
{
    /// <summary>The branch where the Hub's dataset viewer publishes a Parquet export of every dataset.</summary>
    public const string ParquetExportRevision = "refs/convert/parquet";

    private static readonly string[] DataExtensions = [".parquet", ".csv", ".tsv", ".json", ".jsonl", ".txt"];

    public HubRepoInfo GetRepoInfo(string repoId, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default) =>
        GetRepoInfoAsync(repoId, revision, type, ct).GetAwaiter().GetResult();

    public async Task<HubRepoInfo> GetRepoInfoAsync(string repoId, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default)
    {
        ValidateRepoId(repoId);
        revision ??= "main";
        var subject = new RequestSubject(repoId, type, revision, null);
        if (Settings.Offline)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.OfflineMiss, $"Offline mode is on (HF_HUB_OFFLINE): cannot list {HubHttp.Describe(subject)}.");
        string url = $"{Settings.Endpoint}/api/{type.Name()}s/{repoId}/revision/{Uri.EscapeDataString(revision)}";
        var (response, finalUrl) = await _http.SendAsync(HttpMethod.Get, url, followAbsolute: false, subject, ct: ct).ConfigureAwait(false);
        using (response)
        {
            _http.EnsureSuccess(response, subject, finalUrl);
            string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            try
            {
                using var doc = JsonDocument.Parse(body);
                string sha = doc.RootElement.GetProperty("sha").GetString() ?? throw new KeyNotFoundException("sha");
                var files = new List<string>();
                if (doc.RootElement.TryGetProperty("siblings", out var siblings))
                    foreach (var s in siblings.EnumerateArray())
                        if (s.TryGetProperty("rfilename", out var name) && name.GetString() is { } n) files.Add(n);
                return new HubRepoInfo(repoId, type, sha, files);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new HubException(ErrorKind.Network, HubErrorCode.Http, $"{finalUrl} did not answer with a repository description: {e.Message}.", inner: e);
            }
        }
    }

    /// <summary>
    /// A dataset's data files in the cache: a local folder is taken as is; a Hub dataset is listed at
    /// <paramref name="revision"/> and its Parquet files (else CSV/TSV/JSON/JSONL/TXT files) are fetched. A dataset
    /// that holds a loading script is read from the Hub's Parquet export (<see cref="ParquetExportRevision"/>)
    /// instead, as the datasets library does. Offline, the cached snapshot of that revision is used.
    /// </summary>
    public HubDataset ResolveDataset(string nameOrPath, string? revision = null, CancellationToken ct = default)
    {
        if (Directory.Exists(nameOrPath))
        {
            string root = Path.GetFullPath(nameOrPath);
            var local = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(f => !f.Split('/').Any(part => part.StartsWith('.')));
            return new HubDataset(nameOrPath, "local", "", root, DataFilesOf(local.ToList()));
        }
        if (!IsValidRepoId(nameOrPath))
            throw FinetuneException.Missing($"'{nameOrPath}' is neither a local folder nor a valid Hub dataset id.");
        revision ??= "main";

        HubRepoInfo info;
        try
        {
            info = GetRepoInfo(nameOrPath, revision, RepoType.Dataset, ct);
            if (HasLoadingScript(info.Files))
            {
                revision = ParquetExportRevision;
                info = GetRepoInfo(nameOrPath, revision, RepoType.Dataset, ct);
            }
        }
        catch (HubException e) when (e.Code is HubErrorCode.OfflineMiss or HubErrorCode.NoNetwork or HubErrorCode.Http)
        {
            return CachedDataset(nameOrPath, revision, e);
        }

        var files = DataFilesOf(info.Files);
        if (files.Count == 0)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.EntryNotFound,
                $"Dataset '{nameOrPath}' at revision '{revision}' has no Parquet, CSV, JSON or text data files.");
        string storage = RepoCacheFolder(nameOrPath, RepoType.Dataset);
        CacheLayout.WriteRef(storage, revision, info.CommitHash);
        foreach (string f in files) Download(nameOrPath, f, info.CommitHash, RepoType.Dataset, ct);
        return new HubDataset(nameOrPath, revision, info.CommitHash, Path.Combine(storage, "snapshots", info.CommitHash), files);
    }

    private HubDataset CachedDataset(string repoId, string revision, HubException cause)
    {
        string storage = RepoCacheFolder(repoId, RepoType.Dataset);
        foreach (string rev in new[] { revision, ParquetExportRevision })
        {
            string? commit = CacheLayout.CachedCommit(storage, rev);
            string folder = commit == null ? "" : Path.Combine(storage, "snapshots", commit);
            if (commit == null || !Directory.Exists(folder)) continue;
            var files = DataFilesOf(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/')).ToList());
            if (files.Count > 0) return new HubDataset(repoId, rev, commit, folder, files);
        }
        throw new HubException(cause.Code == HubErrorCode.OfflineMiss ? ErrorKind.NotFound : ErrorKind.Network, cause.Code,
            $"Dataset '{repoId}' at revision '{revision}' is not in the cache {storage}" +
            (cause.Code == HubErrorCode.OfflineMiss ? " and offline mode is on (HF_HUB_OFFLINE)." : $" and the Hub could not be asked: {cause.Message}"),
            cause.HttpStatus, cause);
    }

    // A dataset repository with a Python loading script at its root (e.g. "glue.py") needs the Parquet export.
    private static bool HasLoadingScript(IReadOnlyList<string> files) =>
        files.Any(f => !f.Contains('/') && f.EndsWith(".py", StringComparison.Ordinal));

    /// <summary>The data files of a listing: Parquet files when there are any, else the other data formats.</summary>
    internal static IReadOnlyList<string> DataFilesOf(IReadOnlyList<string> files)
    {
        var parquet = files.Where(f => f.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToArray();
        if (parquet.Length > 0) return parquet;
        return files.Where(f => DataExtensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase))
                && !f.Split('/')[^1].StartsWith("README", StringComparison.OrdinalIgnoreCase)
                && !f.Split('/')[^1].Equals("dataset_infos.json", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).ToArray();
    }
}
