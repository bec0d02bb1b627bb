using System.Text.RegularExpressions;
using Finetune.Data.Loading;

namespace Finetune.Data;

/// <summary>
/// `load_dataset` for C#: a known dataset name ("rotten_tomatoes", "glue/mrpc" or ("glue", "mrpc"), "imdb",
/// "ag_news", "yelp_review_full"), a generic format with data files ("csv", "json", "parquet", "text"), a data file,
/// a folder of {train,validation,test} files, a folder written by Python's `save_to_disk`, a glob, or else a Hugging Face Hub dataset id ("org/name"), whose
/// data files (Parquet, CSV, JSON) are fetched into the Hugging Face cache.
/// </summary>
public static class LoadDataset
{
    private static readonly string[] DataExtensions = [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt"];

    public static DatasetDict Load(string nameOrPath, string? config = null, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (nameOrPath is "csv" or "tsv" or "json" or "jsonl" or "parquet" or "text")
        {
            if (options.DataFiles == null) throw FinetuneException.Invalid($"load_dataset(\"{nameOrPath}\") needs data files (LoadOptions.DataFiles).");
            return FromDataFiles(options.DataFiles, options, nameOrPath);
        }
        if (options.DataFiles != null && (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) == false && !KnownDatasets.IsKnown(nameOrPath))
            return FromDataFiles(options.DataFiles, options, null);
        string name = nameOrPath;
        if (config == null && name.Contains('/') && KnownDatasets.IsKnown(name[..name.IndexOf('/')]) && !File.Exists(name) && !Directory.Exists(name))
        {
            config = name[(name.IndexOf('/') + 1)..];
            name = name[..name.IndexOf('/')];
        }
        if (KnownDatasets.IsKnown(name) && !File.Exists(name) && !Directory.Exists(name))
        {
            string root = ResolveDataRoot(options);
            // Files not under the data root: the Hub's Parquet export of the same dataset, as load_dataset would read it
            // (rotten_tomatoes has its own Hub-then-embedded fallback, so it works with neither).
            return Directory.Exists(Path.Combine(root, name)) || name == "rotten_tomatoes"
                ? KnownDatasets.Build(name, config, root, options) : FromParquetExport(name, config, root, options);
        }
        // The name-or-path decision every loader shares (Hub.NameOrPath); a glob is the datasets-only case.
        var kind = Hub.NameOrPath.Classify(nameOrPath);
        if (kind == Hub.NameKind.LocalFile)
            return FromDataFiles(new Dictionary<string, IReadOnlyList<string>> { ["train"] = new[] { nameOrPath } }, options, null);
        if (kind == Hub.NameKind.LocalFolder)
            return SavedToDisk.IsSaved(nameOrPath) ? SavedToDisk.LoadDict(nameOrPath) : FromFolder(nameOrPath, options);
        if (nameOrPath.IndexOfAny(['*', '?']) >= 0)
            return FromDataFiles(new Dictionary<string, IReadOnlyList<string>> { ["train"] = new[] { nameOrPath } }, options, null);
        if (kind == Hub.NameKind.HubId) return FromHub(nameOrPath, config, options);
        throw FinetuneException.Missing($"Dataset '{nameOrPath}' is neither a known dataset ({string.Join(", ", KnownDatasets.Names)}) nor an existing file or folder.");
    }

    /// <summary>
    /// HF `load_from_disk`: a folder written by `Dataset.save_to_disk` (state.json, dataset_info.json, Arrow
    /// shards) as one split named by its saved `_split` (else "train"), or a `DatasetDict.save_to_disk` folder
    /// (dataset_dict.json and a folder per split) with all its splits. <see cref="Load(string, string?, LoadOptions?)"/>
    /// reads such folders too.
    /// </summary>
    public static DatasetDict LoadFromDisk(string path) => SavedToDisk.LoadDict(path);

    /// <summary>
    /// A Hub dataset: its configuration's data files, each split read with the loader of its extension. A failure
    /// says the name is not local either, and why the Hub did not help (offline, unreachable, no such repository).
    /// </summary>
    private static DatasetDict FromHub(string repoId, string? config, LoadOptions options)
    {
        Hub.HubDataset hub;
        try
        {
            hub = Hub.Hub.ResolveDataset(repoId, options.Revision, config);
        }
        catch (Hub.HubException e) when (e.Code is Hub.HubErrorCode.RepoNotFound or Hub.HubErrorCode.OfflineMiss or Hub.HubErrorCode.NoNetwork)
        {
            throw new Hub.HubException(e.Kind, e.Code,
                $"Dataset '{repoId}' is neither a known dataset ({string.Join(", ", KnownDatasets.Names)}) nor an existing file or folder, and not available from the Hub: {e.Message}",
                e.HttpStatus, e);
        }
        return FromDataFiles(hub.LocalSplits, options, null);
    }

    /// <summary>
    /// A known dataset whose files are not under the data root, from its Hub repository's Parquet export
    /// (`refs/convert/parquet`, `{config}/{split}/NNNN.parquet`) through the Hugging Face cache. When neither is
    /// there, the error names the folder to fill and the repository to download.
    /// </summary>
    private static DatasetDict FromParquetExport(string name, string? config, string root, LoadOptions options)
    {
        string repoId = KnownDatasets.HubRepoId(name);
        if (name == "glue" && config == null)
            throw FinetuneException.Invalid($"Dataset 'glue' needs a configuration: one of {string.Join(", ", KnownDatasets.GlueConfigs)} (e.g. \"glue/mrpc\").");
        Hub.HubDataset hub;
        try
        {
            hub = Hub.Hub.ResolveDataset(repoId, Hub.HubClient.ParquetExportRevision, config);
        }
        catch (Hub.HubException e) when (e.Code is Hub.HubErrorCode.RepoNotFound or Hub.HubErrorCode.OfflineMiss or Hub.HubErrorCode.NoNetwork or Hub.HubErrorCode.Http)
        {
            throw FinetuneException.Missing(
                $"Dataset '{name}{(config != null ? "/" + config : "")}' is not under the data root ('{Path.Combine(root, name)}' does not exist) and its Hub Parquet export " +
                $"({repoId} at {Hub.HubClient.ParquetExportRevision}) is not available: {e.Message} Put the dataset's files in '{Path.Combine(root, name)}' " +
                $"(or point --data-root / FINETUNE_DATASETS at their parent), or fetch them where the Hub is reachable: finetune download {repoId} --repo-type dataset --revision {Hub.HubClient.ParquetExportRevision}.", e);
        }
        return FromDataFiles(hub.LocalSplits, options, null);
    }

    /// <summary>
    /// One split, as HF `load_dataset(..., split=...)`: "train", "train[:1000]", "train[10%:20%]", "train+test".
    /// </summary>
    public static Dataset Load(string nameOrPath, string? config, string split, LoadOptions? options = null) =>
        SplitSpec.Resolve(Load(nameOrPath, config, options), split);

    /// <summary>Loads one file (csv, tsv, json, jsonl, parquet, txt; optionally .gz) into a dataset.</summary>
    public static Dataset LoadFile(string path, LoadOptions? options = null, string? format = null)
    {
        options ??= new LoadOptions();
        if (!File.Exists(path)) throw FinetuneException.Missing($"Data file '{path}' does not exist.");
        format ??= options.Format ?? FormatOf(path);
        return format switch
        {
            "csv" => TabularLoader.Load(path, SniffDelimiter(path, options), tsv: false),
            "tsv" => TabularLoader.Load(path, options, tsv: true),
            "json" or "jsonl" => JsonLoader.Load(path, options),
            "text" or "txt" => TextLoader.Load(path, options),
            "parquet" => Parquet.ParquetLoader.Load(path, options),
            _ => throw new FinetuneException(ErrorKind.Unsupported, $"'{path}' has an unknown data format '{format}' (use csv, tsv, json, jsonl, parquet or text)."),
        };
    }

    /// <summary>
    /// The folder known datasets are read from: <see cref="LoadOptions.DataRoot"/>, else env FINETUNE_DATASETS, else
    /// `shared/datasets` beside the repository that contains the working directory or this program.
    /// </summary>
    public static string ResolveDataRoot(LoadOptions? options = null)
    {
        if (options?.DataRoot is { } r) return r;
        string? env = Environment.GetEnvironmentVariable("FINETUNE_DATASETS");
        if (!string.IsNullOrEmpty(env)) return env;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                if (!File.Exists(Path.Combine(dir.FullName, "Finetune.slnx"))) continue;
                foreach (var cand in new[] { Path.Combine(dir.FullName, "..", "shared", "datasets"), Path.Combine(dir.FullName, "shared", "datasets") })
                {
                    if (Directory.Exists(cand)) return Path.GetFullPath(cand);
                }
            }
        }
        return Path.GetFullPath(Path.Combine("..", "shared", "datasets"));
    }

    internal static string FormatOf(string path)
    {
        string p = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        string ext = Path.GetExtension(p).ToLowerInvariant();
        return ext switch
        {
            ".csv" => "csv",
            ".tsv" => "tsv",
            ".json" or ".jsonl" or ".ndjson" => "json",
            ".parquet" => "parquet",
            ".txt" => "text",
            _ => throw new FinetuneException(ErrorKind.Unsupported, $"'{path}' has an unknown extension; name the format (csv, tsv, json, parquet, text)."),
        };
    }

    /// <summary>A ".csv" whose header has tabs and no commas is tab-separated (catalonia_independence's files).</summary>
    private static LoadOptions SniffDelimiter(string path, LoadOptions o)
    {
        if (o.Delimiter != null || path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) return o;
        using var reader = new StreamReader(path);
        string? first = reader.ReadLine();
        if (first != null && first.Contains('\t') && !first.Contains(','))
        {
            return new LoadOptions
            {
                DataFiles = o.DataFiles,
                DataRoot = o.DataRoot,
                Format = o.Format,
                Delimiter = '\t',
                Quoting = o.Quoting,
                HasHeader = o.HasHeader,
                ColumnNames = o.ColumnNames,
                Encoding = o.Encoding,
                Features = o.Features,
                SkipBadRows = o.SkipBadRows,
                Warning = o.Warning,
                Revision = o.Revision,
            };
        }
        return o;
    }

    private static DatasetDict FromDataFiles(IReadOnlyDictionary<string, IReadOnlyList<string>> files, LoadOptions o, string? format)
    {
        var dict = new DatasetDict();
        var dataFiles = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var (split, patterns) in files)
        {
            var paths = patterns.SelectMany(Glob.Expand).ToList();
            if (paths.Count == 0) throw FinetuneException.Missing($"No data files match {string.Join(", ", patterns)} for split '{split}'.");
            var parts = paths.Select(p => LoadFile(p, o, format)).ToArray();
            dict[split] = parts.Length == 1 ? parts[0] : Dataset.Concatenate(parts);
            dataFiles[split] = paths;
        }
        dict.DataFiles = dataFiles;
        return dict;
    }

    private static readonly (string Split, Regex Pattern)[] SplitPatterns =
    [
        ("train", new Regex(@"(^|[-._ 0-9])(train|training)([-._ 0-9]|$)", RegexOptions.IgnoreCase)),
        ("validation", new Regex(@"(^|[-._ 0-9])(validation|valid|val|dev)([-._ 0-9]|$)", RegexOptions.IgnoreCase)),
        ("test", new Regex(@"(^|[-._ 0-9])(test|testing|eval|evaluation)([-._ 0-9]|$)", RegexOptions.IgnoreCase)),
    ];

    /// <summary>A folder: files named like train*/validation*/dev*/test* become those splits; otherwise all are "train".</summary>
    private static DatasetDict FromFolder(string dir, LoadOptions o)
    {
        var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => DataExtensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase) || f.EndsWith(e + ".gz", StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw FinetuneException.Missing($"Folder '{dir}' holds no data files ({string.Join(", ", DataExtensions)}).");
        var bySplit = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var (split, pattern) in SplitPatterns)
        {
            var match = files.Where(f => pattern.IsMatch(Path.GetFileName(f))).ToList();
            if (match.Count > 0) bySplit[split] = match;
        }
        if (bySplit.Count == 0) bySplit["train"] = files;
        string format = FolderFormat(dir, bySplit);
        var kept = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var (split, list) in bySplit) kept[split] = list.Where(f => FormatFileRegex(format).IsMatch(f)).ToList();
        var dropped = bySplit.Values.SelectMany(l => l).Except(kept.Values.SelectMany(l => l)).ToList();
        if (dropped.Count > 0)
            o.Warning?.Invoke($"'{dir}' holds its splits in several formats; read the {format} files ({string.Join(", ", kept.Values.SelectMany(l => l).Select(f => Path.GetRelativePath(dir, f)))}) and ignored {string.Join(", ", dropped.Select(f => Path.GetRelativePath(dir, f)))}, as datasets does (the most frequent extension; ties go to parquet, jsonl, json, csv).");
        return FromDataFiles(kept, o, null);
    }

    // datasets' _EXTENSION_TO_MODULE for the formats read here: the builder each extension selects.
    private static readonly Dictionary<string, string> ExtensionToFormat = new(StringComparer.Ordinal)
    {
        [".csv"] = "csv",
        [".tsv"] = "csv",
        [".json"] = "json",
        [".jsonl"] = "json",
        [".ndjson"] = "json",
        [".parquet"] = "parquet",
        [".txt"] = "text",
    };

    /// <summary>
    /// The one format datasets reads a folder's files in (load.py's infer_module_for_data_files_list): per split,
    /// count every dotted suffix of the file names; the most frequent known extension wins, ties going to .parquet,
    /// then .jsonl, .json, .csv, then the alphabetically last; all splits must agree.
    /// </summary>
    private static string FolderFormat(string dir, Dictionary<string, IReadOnlyList<string>> bySplit)
    {
        string? format = null;
        foreach (var (split, list) in bySplit)
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (string f in list)
                foreach (string suffix in Path.GetFileName(f).Split('.').Skip(1))
                    counts["." + suffix.ToLowerInvariant()] = counts.GetValueOrDefault("." + suffix.ToLowerInvariant()) + 1;
            string? splitFormat = counts
                .OrderByDescending(kv => kv.Value).ThenByDescending(kv => kv.Key == ".parquet").ThenByDescending(kv => kv.Key == ".jsonl")
                .ThenByDescending(kv => kv.Key == ".json").ThenByDescending(kv => kv.Key == ".csv").ThenByDescending(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => ExtensionToFormat.GetValueOrDefault(kv.Key)).FirstOrDefault(f => f != null);
            if (splitFormat == null) throw FinetuneException.Missing($"Folder '{dir}' holds no data files of a known format for split '{split}'.");
            if (format != null && format != splitFormat)
                throw FinetuneException.Invalid($"Folder '{dir}' holds its splits in different formats ({format} and {splitFormat} for '{split}'); datasets refuses such a folder too: keep one format, or pass the files of each split.");
            format = splitFormat;
        }
        return format!;
    }

    // datasets' DataFilesList.filter: a file belongs to a format when one of its extensions ends the name or precedes one more suffix (.csv.gz).
    private static Regex FormatFileRegex(string format) =>
        new(".*(" + string.Join("|", ExtensionToFormat.Where(kv => kv.Value == format).Select(kv => Regex.Escape(kv.Key))) + @")(\..+)?$");
}
