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
    /// config.json, the weights (model.safetensors, or its index and shards, else pytorch_model.bin) and whichever
    /// tokenizer files exist. Files the repository lacks are recorded under .no_exist, as transformers does.
    /// </summary>
    public string ResolveModel(string nameOrPath, string? revision = null, CancellationToken ct = default)
    {
        if (Directory.Exists(nameOrPath)) return Path.GetFullPath(nameOrPath);
        if (!IsValidRepoId(nameOrPath))
            throw FinetuneException.Missing($"'{nameOrPath}' is neither a local folder nor a valid Hub model id.");
        revision ??= "main";

        string config = Download(nameOrPath, "config.json", revision, RepoType.Model, ct);
        string snapshot = SnapshotFolderOf(config, "config.json");
        // Later files are fetched at the commit config.json came from, so a push in between cannot mix versions.
        string commit = Path.GetFileName(snapshot);

        bool haveWeights = false;
        foreach (string weights in WeightFiles)
        {
            string? path = TryDownloadOptional(nameOrPath, weights, commit, ct);
            if (path == null) continue;
            if (weights.EndsWith(".index.json", StringComparison.Ordinal))
                foreach (string shard in ShardsOf(path))
                    Download(nameOrPath, shard, commit, RepoType.Model, ct);
            haveWeights = true;
            break;
        }
        if (!haveWeights)
            throw new HubException(ErrorKind.NotFound, HubErrorCode.EntryNotFound,
                $"Model '{nameOrPath}' at revision '{revision}' has none of {string.Join(", ", WeightFiles)}" +
                (Settings.Offline ? $" in the cache {RepoCacheFolder(nameOrPath)} (offline mode is on)." : "."));

        foreach (string file in TokenizerFiles) TryDownloadOptional(nameOrPath, file, commit, ct);
        return snapshot;
    }

    /// <summary>
    /// Downloads an optional file; null when the repository lacks it (404 EntryNotFound, or a .no_exist marker for
    /// that commit), or when offline or unreachable and the cache has no copy.
    /// </summary>
    public string? TryDownloadOptional(string repoId, string filename, string revision, CancellationToken ct = default, RepoType type = RepoType.Model)
    {
        if (IsKnownMissing(repoId, filename, revision, type)) return null;
        try
        {
            return Download(repoId, filename, revision, type, ct);
        }
        catch (HubException e) when (e.Code is HubErrorCode.EntryNotFound or HubErrorCode.OfflineMiss or HubErrorCode.NoNetwork)
        {
            return null;
        }
    }

    private static string SnapshotFolderOf(string pointer, string filename)
    {
        string dir = Path.GetDirectoryName(pointer)!;
        for (int depth = filename.Count(c => c == '/'); depth > 0; depth--) dir = Path.GetDirectoryName(dir)!;
        return dir;
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
