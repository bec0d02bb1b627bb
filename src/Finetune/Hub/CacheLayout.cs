using System.Text.RegularExpressions;

namespace Finetune.Hub;

/// <summary>
/// huggingface_hub's cache layout, shared with Python: {cache}/{type}s--{org}--{name}/ holding blobs/{etag},
/// snapshots/{commit}/{path} (relative symlinks into blobs), refs/{revision} (a commit hash, no newline) and
/// .no_exist/{commit}/{path} (empty markers for files known absent), plus {cache}/.locks/{repo folder}/{etag}.lock.
/// </summary>
internal static partial class CacheLayout
{
    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHashRegex();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Regex();

    public static bool IsCommitHash(string revision) => CommitHashRegex().IsMatch(revision);

    /// <summary>An LFS file's etag is the sha256 of its content (64 hex digits); a git file's is its git sha1.</summary>
    public static bool IsSha256(string etag) => Sha256Regex().IsMatch(etag);

    /// <summary>"models--org--name": the type in plural, then the repo id with "/" turned into "--".</summary>
    public static string RepoFolderName(string repoId, RepoType type) =>
        string.Join("--", new[] { type.Name() + "s" }.Concat(repoId.Split('/')));

    public static string StorageFolder(string cacheDir, string repoId, RepoType type) =>
        Path.Combine(cacheDir, RepoFolderName(repoId, type));

    /// <summary>A repo file path ("sub/file.txt") as a local relative path.</summary>
    public static string LocalRelative(string filename) => Path.Combine(filename.Split('/'));

    public static string PointerPath(string storage, string commit, string filename) =>
        Path.Combine(storage, "snapshots", commit, LocalRelative(filename));

    public static string BlobPath(string storage, string etag) => Path.Combine(storage, "blobs", etag);

    public static string NoExistPath(string storage, string commit, string filename) =>
        Path.Combine(storage, ".no_exist", commit, LocalRelative(filename));

    public static string LockPath(string cacheDir, string repoId, RepoType type, string etag) =>
        Path.Combine(cacheDir, ".locks", RepoFolderName(repoId, type), etag + ".lock");

    // A revision such as "refs/convert/parquet" becomes nested folders under refs/, as in Python.
    public static string RefPath(string storage, string revision) =>
        Path.Combine(storage, "refs", LocalRelative(revision));

    /// <summary>The commit a revision points to in the cache: itself when it is a hash, else refs/{revision}.</summary>
    public static string? CachedCommit(string storage, string revision)
    {
        if (IsCommitHash(revision)) return revision;
        string refPath = RefPath(storage, revision);
        try
        {
            return File.Exists(refPath) ? File.ReadAllText(refPath).Trim() : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Records revision → commit. Written only when it changes, so an unchanged read-only cache stays usable; a
    /// failed write is ignored for the same reason (the file was found, only the bookkeeping could not be saved).
    /// </summary>
    public static void WriteRef(string storage, string revision, string commit)
    {
        if (revision == commit) return;
        string refPath = RefPath(storage, revision);
        try
        {
            if (File.Exists(refPath) && File.ReadAllText(refPath) == commit) return;
            AtomicFile.WriteAllText(refPath, commit);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FinetuneException) { }
    }

    public static void MarkMissing(string storage, string commit, string filename)
    {
        string path = NoExistPath(storage, commit, filename);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (!File.Exists(path)) File.WriteAllBytes(path, []);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Points snapshots/{commit}/{file} at the blob with a relative link ("../../blobs/{etag}" plus one "../" per
    /// sub-folder), so the cache can be moved; where links cannot be made the blob is copied instead.
    /// </summary>
    public static void CreatePointer(string blobPath, string pointerPath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(pointerPath)!);
        string target = Path.GetRelativePath(Path.GetDirectoryName(pointerPath)!, blobPath);
        TryDelete(pointerPath);
        try
        {
            File.CreateSymbolicLink(pointerPath, target);
            return;
        }
        catch (IOException) when (IsLinkTo(pointerPath, blobPath))
        {
            return; // another process linked it between our delete and our link
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // File systems without symbolic links (FAT, some Windows setups): keep a copy, as huggingface_hub does.
        }
        string tmp = pointerPath + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.Copy(blobPath, tmp, overwrite: true);
        File.Move(tmp, pointerPath, overwrite: true);
    }

    /// <summary>True when the snapshot entry exists and, if it is a link, its blob too (Python's os.path.exists).</summary>
    public static bool PointerExists(string pointer)
    {
        var info = new FileInfo(pointer);
        if (info.LinkTarget == null) return info.Exists;
        return info.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true };
    }

    private static bool IsLinkTo(string link, string blob)
    {
        var info = new FileInfo(link);
        if (info.LinkTarget == null) return false;
        string resolved = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(link)!, info.LinkTarget));
        return resolved == Path.GetFullPath(blob);
    }

    public static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path) || new FileInfo(path).LinkTarget != null) File.Delete(path);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Python's ETag normalisation: strip any leading 'W' and '/' characters, then the quotes.</summary>
    public static string? NormalizeEtag(string? etag) => etag?.TrimStart('W', '/').Trim('"');
}
