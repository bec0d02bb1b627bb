using System.Text.Json;

namespace Finetune.Hub;

/// <summary>A repository's commit and file list at a revision, from GET /api/{type}s/{repo}/revision/{revision}.</summary>
public sealed record HubRepoInfo(string RepoId, RepoType Type, string CommitHash, IReadOnlyList<string> Files);

/// <summary>
/// A dataset's data files on disk: the folder (a snapshot, or the local folder given), the configuration chosen and
/// each split's files as repository paths ("data/train-00000-of-00001.parquet").
/// </summary>
public sealed record HubDataset(string RepoId, string Revision, string CommitHash, string Folder, string Config,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Splits)
{
    /// <summary>Every data file, as repository paths, in split order.</summary>
    public IReadOnlyList<string> Files => Splits.Values.SelectMany(f => f).Distinct().ToArray();

    /// <summary>Absolute local path of a repository path.</summary>
    public string LocalPath(string file) => Path.Combine(Folder, CacheLayout.LocalRelative(file));

    /// <summary>Each split's files as absolute local paths.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> LocalSplits =>
        Splits.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value.Select(LocalPath).ToArray());
}

public sealed partial class HubClient
{
    /// <summary>The branch where the Hub's dataset viewer publishes a Parquet export of every dataset.</summary>
    public const string ParquetExportRevision = "refs/convert/parquet";

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
    /// A dataset's data files and splits: a local folder is taken as is; a Hub dataset is listed at
    /// <paramref name="revision"/> (default "main"), its configuration chosen (<paramref name="config"/>, else the
    /// default one) and only that configuration's data files fetched. A dataset that holds a loading script is
    /// read from the Hub's Parquet export (<see cref="ParquetExportRevision"/>) instead, as the datasets library
    /// does. Without network or offline, the cached snapshot of that revision is used.
    /// </summary>
    public HubDataset ResolveDataset(string nameOrPath, string? revision = null, string? config = null, CancellationToken ct = default)
    {
        if (Directory.Exists(nameOrPath))
        {
            string root = Path.GetFullPath(nameOrPath);
            var local = ListFolder(root);
            string? card = File.Exists(Path.Combine(root, "README.md")) ? File.ReadAllText(Path.Combine(root, "README.md")) : null;
            var sel = DatasetLayout.FromRepoFiles(nameOrPath, local, card, config);
            return new HubDataset(nameOrPath, "local", "", root, sel.Config, sel.Splits);
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
            return CachedDataset(nameOrPath, revision, config, e);
        }

        string storage = RepoCacheFolder(nameOrPath, RepoType.Dataset);
        CacheLayout.WriteRef(storage, revision, info.CommitHash);
        DatasetLayout.Selection selection;
        if (revision == ParquetExportRevision)
            selection = DatasetLayout.FromParquetExport(nameOrPath, info.Files, config);
        else
        {
            string? card = info.Files.Contains("README.md")
                ? File.ReadAllText(Download(nameOrPath, "README.md", info.CommitHash, RepoType.Dataset, ct)) : null;
            selection = DatasetLayout.FromRepoFiles(nameOrPath, info.Files, card, config);
        }
        if (selection.Files.Count == 0)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.EntryNotFound,
                $"Dataset '{nameOrPath}' at revision '{revision}' has no Parquet, CSV, JSON or text data files.");
        foreach (string f in selection.Files) Download(nameOrPath, f, info.CommitHash, RepoType.Dataset, ct);
        return new HubDataset(nameOrPath, revision, info.CommitHash, Path.Combine(storage, "snapshots", info.CommitHash), selection.Config, selection.Splits);
    }

    private HubDataset CachedDataset(string repoId, string revision, string? config, HubException cause)
    {
        string storage = RepoCacheFolder(repoId, RepoType.Dataset);
        foreach (string rev in new[] { revision, ParquetExportRevision }.Distinct())
        {
            string? commit = CacheLayout.CachedCommit(storage, rev);
            string folder = commit == null ? "" : Path.Combine(storage, "snapshots", commit);
            if (commit == null || !Directory.Exists(folder)) continue;
            var files = ListFolder(folder);
            string? card = File.Exists(Path.Combine(folder, "README.md")) ? File.ReadAllText(Path.Combine(folder, "README.md")) : null;
            var sel = rev == ParquetExportRevision
                ? DatasetLayout.FromParquetExport(repoId, files, config)
                : DatasetLayout.FromRepoFiles(repoId, files, card, config);
            if (sel.Files.Count > 0) return new HubDataset(repoId, rev, commit, folder, sel.Config, sel.Splits);
        }
        throw new HubException(cause.Code == HubErrorCode.OfflineMiss ? ErrorKind.NotFound : ErrorKind.Network, cause.Code,
            $"Dataset '{repoId}' at revision '{revision}' is not in the cache {storage}" +
            (cause.Code == HubErrorCode.OfflineMiss ? " and offline mode is on (HF_HUB_OFFLINE)." : $" and the Hub could not be asked: {cause.Message}"),
            cause.HttpStatus, cause);
    }

    private static List<string> ListFolder(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => !f.Split('/').Any(part => part.StartsWith('.')))
            .Order(StringComparer.Ordinal).ToList();

    // A dataset repository with a Python loading script at its root (e.g. "glue.py") needs the Parquet export.
    private static bool HasLoadingScript(IReadOnlyList<string> files) =>
        files.Any(f => !f.Contains('/') && f.EndsWith(".py", StringComparison.Ordinal));
}
