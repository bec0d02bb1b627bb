namespace Finetune.Hub;

/// <summary>One repository in the cache, as huggingface_hub's scan_cache_dir reports it.</summary>
public sealed record CachedRepo(
    RepoType Type,
    string RepoId,
    string Folder,
    long SizeOnDisk,
    int FileCount,
    IReadOnlyDictionary<string, string> Refs,
    IReadOnlyList<string> Commits,
    DateTime LastModifiedUtc);

/// <summary>Lists and removes repositories in the shared cache (the `finetune cache` command).</summary>
public static class HubCache
{
    /// <summary>Every models--*/datasets--*/spaces--* folder of the cache, sorted by type then id.</summary>
    public static IReadOnlyList<CachedRepo> Scan(string? cacheDir = null)
    {
        cacheDir ??= HubSettings.FromEnvironment().CacheDir;
        if (!Directory.Exists(cacheDir)) return [];
        var repos = new List<CachedRepo>();
        foreach (string dir in Directory.EnumerateDirectories(cacheDir))
        {
            string name = Path.GetFileName(dir);
            string[] parts = name.Split("--");
            if (parts.Length < 2 || !RepoTypes.TryParsePlural(parts[0], out var type)) continue;
            repos.Add(Describe(dir, type, string.Join('/', parts[1..])));
        }
        return repos.OrderBy(r => r.Type).ThenBy(r => r.RepoId, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Deletes a repository's cache folder and its lock folder; false when it was not cached.</summary>
    public static bool Remove(string repoId, RepoType type = RepoType.Model, string? cacheDir = null)
    {
        cacheDir ??= HubSettings.FromEnvironment().CacheDir;
        string folder = CacheLayout.StorageFolder(cacheDir, repoId, type);
        if (!Directory.Exists(folder)) return false;
        try
        {
            Directory.Delete(folder, recursive: true);
            string locks = Path.Combine(cacheDir, ".locks", CacheLayout.RepoFolderName(repoId, type));
            if (Directory.Exists(locks)) Directory.Delete(locks, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not remove '{folder}': {e.Message}", e);
        }
        return true;
    }

    private static CachedRepo Describe(string folder, RepoType type, string repoId)
    {
        long size = 0;
        int count = 0;
        DateTime last = Directory.GetLastWriteTimeUtc(folder);
        string blobs = Path.Combine(folder, "blobs");
        if (Directory.Exists(blobs))
            foreach (var f in new DirectoryInfo(blobs).EnumerateFiles())
            {
                if (f.Name.EndsWith(".incomplete", StringComparison.Ordinal)) continue;
                size += f.Length;
                count++;
                if (f.LastWriteTimeUtc > last) last = f.LastWriteTimeUtc;
            }
        string snapshots = Path.Combine(folder, "snapshots");
        var commits = Directory.Exists(snapshots)
            ? Directory.EnumerateDirectories(snapshots).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray()
            : [];
        if (count == 0 && Directory.Exists(snapshots))
        {
            // A cache written without symbolic links keeps copies in snapshots/ instead of blobs/.
            foreach (var f in new DirectoryInfo(snapshots).EnumerateFiles("*", SearchOption.AllDirectories)) { size += f.Length; count++; }
        }
        var refs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        string refsDir = Path.Combine(folder, "refs");
        if (Directory.Exists(refsDir))
            foreach (string r in Directory.EnumerateFiles(refsDir, "*", SearchOption.AllDirectories))
                refs[Path.GetRelativePath(refsDir, r).Replace(Path.DirectorySeparatorChar, '/')] = File.ReadAllText(r).Trim();
        return new CachedRepo(type, repoId, folder, size, count, refs, commits, last);
    }
}
