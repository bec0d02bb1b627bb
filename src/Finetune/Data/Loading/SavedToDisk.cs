using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Data.Arrow;

namespace Finetune.Data.Loading;

/// <summary>
/// The folders Python `datasets` writes with `save_to_disk` and reads with `load_from_disk`. A Dataset folder holds
/// `state.json` (`_data_files`: the shard names in order, `_fingerprint`, `_split`, the format fields),
/// `dataset_info.json` (the DatasetInfo, whose `features` declare the columns) and the shards, Arrow IPC streams
/// named `data-NNNNN-of-NNNNN.arrow`. A DatasetDict folder holds `dataset_dict.json` (`{"splits": [...]}`) and one
/// Dataset folder per split, named after it.
/// </summary>
internal static class SavedToDisk
{
    public const string StateFile = "state.json";
    public const string InfoFile = "dataset_info.json";
    public const string DictFile = "dataset_dict.json";

    /// <summary>Whether <paramref name="dir"/> is a folder save_to_disk wrote (a Dataset or a DatasetDict).</summary>
    public static bool IsSaved(string dir) =>
        Directory.Exists(dir) && (File.Exists(Path.Combine(dir, DictFile)) || File.Exists(Path.Combine(dir, StateFile)));

    /// <summary>A DatasetDict folder's splits, or a Dataset folder as one split named by its `_split` (else "train").</summary>
    public static DatasetDict LoadDict(string dir)
    {
        if (!Directory.Exists(dir)) throw FinetuneException.Missing($"Folder '{dir}' does not exist.");
        var dict = new DatasetDict();
        string dictFile = Path.Combine(dir, DictFile);
        if (File.Exists(dictFile))
        {
            foreach (string split in Splits(dictFile)) dict[split] = Load(Path.Combine(dir, split), out _);
            return dict;
        }
        var ds = Load(dir, out string? savedSplit);
        dict[savedSplit ?? "train"] = ds;
        return dict;
    }

    /// <summary>One Dataset folder; <paramref name="split"/> is its state's `_split`.</summary>
    public static Dataset Load(string dir, out string? split)
    {
        string statePath = Path.Combine(dir, StateFile), infoPath = Path.Combine(dir, InfoFile);
        if (!File.Exists(statePath))
        {
            string hint = File.Exists(Path.Combine(dir, DictFile)) ? " (it is a DatasetDict folder: load it as a dict)" : "";
            throw FinetuneException.Missing($"'{statePath}' does not exist, so '{dir}' is not a folder written by save_to_disk{hint}.");
        }
        if (!File.Exists(infoPath)) throw FinetuneException.Missing($"'{infoPath}' does not exist; save_to_disk writes it beside '{statePath}'.");
        using var state = ReadJson(statePath);
        var root = state.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw FinetuneException.Invalid($"'{statePath}' is not a JSON object.");
        if (!root.TryGetProperty("_data_files", out var files) || files.ValueKind != JsonValueKind.Array)
            throw FinetuneException.Invalid($"'{statePath}' has no '_data_files' list.");
        var shards = new List<string>(files.GetArrayLength());
        foreach (var f in files.EnumerateArray())
        {
            string? name = f.ValueKind == JsonValueKind.Object && f.TryGetProperty("filename", out var fn) && fn.ValueKind == JsonValueKind.String ? fn.GetString() : null;
            if (name == null) throw FinetuneException.Invalid($"'{statePath}': an entry of '_data_files' has no 'filename'.");
            // A name with a folder in it is corruption or a path traversal; save_to_disk writes plain names.
            if (!IsPlainName(name)) throw FinetuneException.Invalid($"'{statePath}': data file '{name}' is not a plain file name in the folder.");
            string path = Path.Combine(dir, name);
            if (!File.Exists(path)) throw FinetuneException.Missing($"Data file '{path}' listed in '{statePath}' does not exist.");
            shards.Add(path);
        }
        if (shards.Count == 0) throw FinetuneException.Invalid($"'{statePath}' lists no data files.");
        split = root.TryGetProperty("_split", out var sp) && sp.ValueKind == JsonValueKind.String ? sp.GetString() : null;
        string savedFingerprint = root.TryGetProperty("_fingerprint", out var fp) && fp.ValueKind == JsonValueKind.String ? fp.GetString()! : "";

        using var info = ReadJson(infoPath);
        List<KeyValuePair<string, HfFeature>>? declared = null;
        if (info.RootElement.ValueKind != JsonValueKind.Object) throw FinetuneException.Invalid($"'{infoPath}' is not a JSON object.");
        if (info.RootElement.TryGetProperty("features", out var feats) && feats.ValueKind != JsonValueKind.Null)
            declared = HfFeatureJson.Parse(feats, infoPath);

        // The saved fingerprint names the content for datasets; the files' own hash keeps an edited shard from
        // reusing a cache entry keyed on it.
        string fingerprint = Dataset.Hash("load_from_disk", savedFingerprint, FileFingerprint.Of(shards.ToArray()));
        var parts = new Dataset[shards.Count];
        for (int i = 0; i < shards.Count; i++) parts[i] = ArrowIpc.Read(shards[i], declared, infoPath, fingerprint);
        var ds = parts.Length == 1 ? parts[0] : Dataset.Concatenate(parts);
        return new Dataset(ds.Features, ds.Columns, fingerprint) { SourceFiles = shards.Select(Path.GetFullPath).ToArray() };
    }

    /// <summary>Writes a Dataset folder as save_to_disk does (one shard).</summary>
    public static void Save(Dataset ds, string dir, string? split)
    {
        Directory.CreateDirectory(dir);
        const string shard = "data-00000-of-00001.arrow";
        ArrowIpc.Write(Path.Combine(dir, shard), ds);
        // json.dump(state, indent=2, sort_keys=True): the keys in sorted order.
        var state = new JsonObject
        {
            ["_data_files"] = new JsonArray(new JsonObject { ["filename"] = shard }),
            ["_fingerprint"] = ds.Fingerprint,
            ["_format_columns"] = null,
            ["_format_kwargs"] = new JsonObject(),
            ["_format_type"] = null,
            ["_output_all_columns"] = false,
            ["_split"] = split,
        };
        // asdict(DatasetInfo) with its top-level keys sorted; only the features are known here.
        var info = new JsonObject
        {
            ["builder_name"] = null,
            ["citation"] = "",
            ["config_name"] = null,
            ["dataset_name"] = null,
            ["dataset_size"] = null,
            ["description"] = "",
            ["download_checksums"] = null,
            ["download_size"] = null,
            ["features"] = HfFeatureJson.ToJson(ds.Features),
            ["homepage"] = "",
            ["license"] = "",
            ["size_in_bytes"] = null,
            ["splits"] = null,
            ["supervised_keys"] = null,
            ["version"] = null,
        };
        var indented = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.WriteAllText(Path.Combine(dir, InfoFile), info.ToJsonString(indented));
        AtomicFile.WriteAllText(Path.Combine(dir, StateFile), state.ToJsonString(indented));
    }

    /// <summary>Writes a DatasetDict folder: `dataset_dict.json` and one Dataset folder per split.</summary>
    public static void Save(DatasetDict dict, string dir)
    {
        foreach (var (split, ds) in dict)
        {
            if (!IsPlainName(split)) throw FinetuneException.Invalid($"Split name '{split}' cannot be a folder name.");
            Save(ds, Path.Combine(dir, split), split);
        }
        var json = new JsonObject { ["splits"] = new JsonArray(dict.Keys.Select(k => (JsonNode)JsonValue.Create(k)!).ToArray()) };
        AtomicFile.WriteAllText(Path.Combine(dir, DictFile), json.ToJsonString());
    }

    private static List<string> Splits(string dictFile)
    {
        using var doc = ReadJson(dictFile);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("splits", out var splits) || splits.ValueKind != JsonValueKind.Array)
            throw FinetuneException.Invalid($"'{dictFile}' has no 'splits' list.");
        var r = new List<string>();
        foreach (var s in splits.EnumerateArray())
        {
            string? name = s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (name == null || !IsPlainName(name)) throw FinetuneException.Invalid($"'{dictFile}': split '{s}' is not a plain folder name.");
            r.Add(name);
        }
        if (r.Count == 0) throw FinetuneException.Invalid($"'{dictFile}' lists no splits.");
        return r;
    }

    private static bool IsPlainName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.IndexOfAny(['/', '\\', '\0']) < 0 && !Path.IsPathRooted(name);

    private static JsonDocument ReadJson(string path)
    {
        try
        {
            return SafeJson.ParseDocument(File.ReadAllBytes(path), path);
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"'{path}' is not valid JSON: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read '{path}': {e.Message}", e);
        }
    }
}
