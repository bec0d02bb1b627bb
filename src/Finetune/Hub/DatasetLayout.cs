using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Finetune.Hub;

/// <summary>
/// Which files of a dataset repository make which split, following the datasets library: the README's YAML
/// `configs:` (config_name, data_files with split/path globs, default) when present; else the sharded name
/// "data/{split}-NNNNN-of-NNNNN.*"; else split keywords in folder names, then in file names (train/training,
/// validation/valid/dev/val, test/testing/eval/evaluation, delimited by "-._ " or digits); else everything is
/// train. The Parquet export is laid out as {config}/{split}/NNNN.parquet ("partial-{split}" for truncated ones).
/// </summary>
internal static class DatasetLayout
{
    private static readonly (string Split, string[] Keywords)[] SplitKeywords =
    [
        ("train", ["train", "training"]),
        ("validation", ["validation", "valid", "dev", "val"]),
        ("test", ["test", "testing", "eval", "evaluation"]),
    ];

    private const string Sep = "[-._ 0-9]";

    private static readonly Regex Sharded = new(@"^data/(?<split>\w+)-[0-9]{5}-of-[0-9]{5}[^/]*\.[^/]*$", RegexOptions.CultureInvariant);

    private static readonly string[] Formats = [".parquet", ".csv", ".tsv", ".jsonl", ".json", ".txt"];

    public sealed record Selection(string Config, IReadOnlyDictionary<string, IReadOnlyList<string>> Splits)
    {
        public IReadOnlyList<string> Files => Splits.Values.SelectMany(f => f).Distinct().ToArray();
    }

    /// <summary>The splits of the Parquet export for one config.</summary>
    public static Selection FromParquetExport(string repoId, IReadOnlyList<string> files, string? config)
    {
        var parquet = files.Where(f => f.EndsWith(".parquet", StringComparison.Ordinal) && f.Count(c => c == '/') == 2).ToArray();
        var configs = parquet.Select(f => f.Split('/')[0]).Distinct().Order(StringComparer.Ordinal).ToArray();
        string chosen = ChooseConfig(repoId, configs, config, defaultConfig: configs.Contains("default") ? "default" : null);
        var splits = new Dictionary<string, List<string>>();
        foreach (string f in parquet.Where(f => f.StartsWith(chosen + "/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            string split = f.Split('/')[1];
            if (split.StartsWith("partial-", StringComparison.Ordinal)) split = split["partial-".Length..];
            Add(splits, split, f);
        }
        return new Selection(chosen, Ordered(splits));
    }

    /// <summary>The splits of a data repository (its own files at a revision).</summary>
    public static Selection FromRepoFiles(string repoId, IReadOnlyList<string> files, string? readme, string? config)
    {
        var configs = readme != null ? ReadmeConfigs(readme) : [];
        if (configs.Count > 0)
        {
            string? byDefault = configs.FirstOrDefault(c => c.IsDefault)?.Name ?? (configs.Any(c => c.Name == "default") ? "default" : null);
            string chosen = ChooseConfig(repoId, configs.Select(c => c.Name).ToArray(), config, byDefault);
            var cfg = configs.First(c => c.Name == chosen);
            var splits = new Dictionary<string, List<string>>();
            foreach (var (split, patterns) in cfg.DataFiles)
                foreach (string pattern in patterns)
                {
                    var rx = GlobRegex(pattern);
                    foreach (string f in files.Where(f => rx.IsMatch(f)).Order(StringComparer.Ordinal)) Add(splits, split, f);
                }
            return new Selection(chosen, splits.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value));
        }

        var data = DataFiles(files);
        if (config != null && config != "default")
        {
            // Without YAML configs a config name can only be a top-level folder.
            var inFolder = data.Where(f => f.StartsWith(config + "/", StringComparison.Ordinal)).ToArray();
            if (inFolder.Length == 0)
                throw FinetuneException.Missing($"Dataset '{repoId}' has no configuration '{config}' (it declares none and has no folder of that name).");
            data = inFolder;
        }
        return new Selection(config ?? "default", Ordered(InferSplits(data)));
    }

    /// <summary>Data files of one format: Parquet when present, else the most common of CSV/TSV/JSON(L)/TXT.</summary>
    public static string[] DataFiles(IReadOnlyList<string> files)
    {
        var candidates = files.Where(f => !f.Split('/').Any(p => p.StartsWith('.')) && !f.EndsWith("/README.md", StringComparison.Ordinal) && f != "README.md");
        var byFormat = candidates.GroupBy(f => Formats.FirstOrDefault(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase))).Where(g => g.Key != null).ToList();
        var best = byFormat.OrderByDescending(g => g.Key == ".parquet").ThenByDescending(g => g.Count()).ThenBy(g => Array.IndexOf(Formats, g.Key)).FirstOrDefault();
        return best == null ? [] : best.Order(StringComparer.Ordinal).ToArray();
    }

    internal static Dictionary<string, List<string>> InferSplits(IReadOnlyList<string> files)
    {
        var splits = new Dictionary<string, List<string>>();
        var sharded = files.Select(f => (File: f, Match: Sharded.Match(f))).Where(x => x.Match.Success).ToList();
        if (sharded.Count > 0)
        {
            foreach (var (f, m) in sharded) Add(splits, m.Groups["split"].Value, f);
            return splits;
        }
        foreach (bool inDirName in new[] { true, false })
        {
            foreach (var (split, keywords) in SplitKeywords)
                foreach (string f in files)
                    if (keywords.Any(k => inDirName ? KeywordInDirs(f, k) : KeywordInFileName(f, k))) Add(splits, split, f);
            if (splits.Count > 0) return splits;
        }
        foreach (string f in files) Add(splits, "train", f);
        return splits;
    }

    // "**/{k}/**", "**/{k}[sep]*/**", "**/*[sep]{k}/**", "**/*[sep]{k}[sep]*/**": some folder is, starts, ends or
    // contains the keyword delimited by separators.
    private static bool KeywordInDirs(string path, string keyword)
    {
        string[] parts = path.Split('/');
        var rx = new Regex($"^(?:|.*{Sep}){Regex.Escape(keyword)}(?:|{Sep}.*)$", RegexOptions.CultureInvariant);
        for (int i = 0; i < parts.Length - 1; i++)
            if (rx.IsMatch(parts[i])) return true;
        return false;
    }

    // "**/{k}[sep]*" and "**/*[sep]{k}[sep]*": the file name starts with, or contains, the keyword followed by a separator.
    private static bool KeywordInFileName(string path, string keyword)
    {
        string name = path.Split('/')[^1];
        return Regex.IsMatch(name, $"^(?:|.*{Sep}){Regex.Escape(keyword)}{Sep}", RegexOptions.CultureInvariant);
    }

    private sealed record ConfigSpec(string Name, bool IsDefault, List<(string Split, List<string> Patterns)> DataFiles);

    /// <summary>The `configs:` list of a dataset card's YAML front matter.</summary>
    private static List<ConfigSpec> ReadmeConfigs(string readme)
    {
        var result = new List<ConfigSpec>();
        string text = readme.Replace("\r\n", "\n");
        if (!text.StartsWith("---\n", StringComparison.Ordinal)) return result;
        int end = text.IndexOf("\n---", 4, StringComparison.Ordinal);
        if (end < 0) return result;
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text[4..end]));
        }
        catch (YamlDotNet.Core.YamlException)
        {
            return result; // datasets ignores an unreadable card the same way: files are then inferred
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root) return result;
        if (!root.Children.TryGetValue(new YamlScalarNode("configs"), out var configsNode) || configsNode is not YamlSequenceNode configs) return result;
        foreach (var node in configs.OfType<YamlMappingNode>())
        {
            string name = Scalar(node, "config_name") ?? "default";
            bool isDefault = Scalar(node, "default") is { } d && d.Equals("true", StringComparison.OrdinalIgnoreCase);
            var dataFiles = new List<(string, List<string>)>();
            node.Children.TryGetValue(new YamlScalarNode("data_files"), out var df);
            switch (df)
            {
                case YamlScalarNode s when s.Value != null:
                    dataFiles.Add(("train", [s.Value]));
                    break;
                case YamlSequenceNode seq:
                    var plain = seq.OfType<YamlScalarNode>().Select(x => x.Value!).ToList();
                    if (plain.Count > 0) dataFiles.Add(("train", plain));
                    foreach (var entry in seq.OfType<YamlMappingNode>())
                        dataFiles.Add((Scalar(entry, "split") ?? "train", Patterns(entry)));
                    break;
                case YamlMappingNode map:
                    foreach (var kv in map.Children)
                        dataFiles.Add((((YamlScalarNode)kv.Key).Value!, kv.Value is YamlSequenceNode list ? list.OfType<YamlScalarNode>().Select(x => x.Value!).ToList() : [((YamlScalarNode)kv.Value).Value!]));
                    break;
            }
            if (dataFiles.Count > 0) result.Add(new ConfigSpec(name, isDefault, dataFiles));
        }
        return result;
    }

    private static List<string> Patterns(YamlMappingNode entry)
    {
        if (!entry.Children.TryGetValue(new YamlScalarNode("path"), out var path)) return [];
        return path switch
        {
            YamlScalarNode s when s.Value != null => [s.Value],
            YamlSequenceNode seq => seq.OfType<YamlScalarNode>().Select(x => x.Value!).ToList(),
            _ => [],
        };
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode s ? s.Value : null;

    /// <summary>A glob over repo paths: "**" any folders, "*" and "?" within one name, [...] a class.</summary>
    internal static Regex GlobRegex(string glob)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                bool slash = i + 2 < glob.Length && glob[i + 2] == '/';
                sb.Append(slash ? "(?:.*/)?" : ".*");
                i += slash ? 2 : 1;
            }
            else if (c == '*') sb.Append("[^/]*");
            else if (c == '?') sb.Append("[^/]");
            else if (c == '[' && glob.IndexOf(']', i + 1) is int close and > 0)
            {
                string cls = glob[(i + 1)..close];
                sb.Append('[').Append(cls.StartsWith('!') ? "^" + cls[1..] : cls.Replace("\\", "\\\\")).Append(']');
                i = close;
            }
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant);
    }

    private static string ChooseConfig(string repoId, IReadOnlyList<string> configs, string? asked, string? defaultConfig)
    {
        if (configs.Count == 0)
            throw FinetuneException.Missing($"Dataset '{repoId}' has no data files in its Parquet export.");
        if (asked != null)
            return configs.Contains(asked) ? asked
                : throw FinetuneException.Missing($"Dataset '{repoId}' has no configuration '{asked}'; it has: {string.Join(", ", configs)}.");
        if (defaultConfig != null) return defaultConfig;
        if (configs.Count == 1) return configs[0];
        throw FinetuneException.Invalid($"Dataset '{repoId}' has several configurations; name one of: {string.Join(", ", configs)}.");
    }

    private static void Add(Dictionary<string, List<string>> splits, string split, string file)
    {
        if (!splits.TryGetValue(split, out var list)) splits[split] = list = [];
        if (!list.Contains(file)) list.Add(file);
    }

    // train, validation, test first, then any other split in name order.
    private static IReadOnlyDictionary<string, IReadOnlyList<string>> Ordered(Dictionary<string, List<string>> splits)
    {
        string[] known = ["train", "validation", "test"];
        var ordered = new Dictionary<string, IReadOnlyList<string>>();
        foreach (string k in known.Where(splits.ContainsKey)) ordered[k] = splits[k];
        foreach (string k in splits.Keys.Except(known).Order(StringComparer.Ordinal)) ordered[k] = splits[k];
        return ordered;
    }
}
