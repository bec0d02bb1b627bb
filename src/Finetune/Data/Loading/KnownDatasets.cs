using System.Globalization;

namespace Finetune.Data.Loading;

/// <summary>
/// The datasets `load_dataset` knows by name, each producing the columns, ClassLabel names and splits Hugging Face
/// defines for it. Only the layout of files under the data root lives here; where the root is, is configuration.
/// </summary>
internal static class KnownDatasets
{
    public static readonly string[] Names = ["rotten_tomatoes", "glue", "imdb", "ag_news", "yelp_review_full"];

    public static readonly string[] GlueConfigs = ["cola", "sst2", "mrpc", "stsb", "qnli", "rte", "wnli", "ax"];

    public static bool IsKnown(string name) => Names.Contains(name);

    /// <summary>The Hub repository each known name redirects to (its Parquet export is the fallback source).</summary>
    public static string HubRepoId(string name) => name switch
    {
        "rotten_tomatoes" => "cornell-movie-review-data/rotten_tomatoes",
        "glue" => "nyu-mll/glue",
        "imdb" => "stanfordnlp/imdb",
        "ag_news" => "fancyzhx/ag_news",
        "yelp_review_full" => "Yelp/yelp_review_full",
        _ => throw FinetuneException.Missing($"Dataset '{name}' is not a known dataset."),
    };

    public static DatasetDict Build(string name, string? config, string root, LoadOptions o)
    {
        string Need(string relative)
        {
            string p = Path.Combine(root, relative);
            if (!File.Exists(p) && !Directory.Exists(p))
                throw FinetuneException.Missing($"Dataset '{name}{(config != null ? "/" + config : "")}' needs '{p}', which does not exist (set LoadOptions.DataRoot or FINETUNE_DATASETS to the folder holding the dataset files).");
            return p;
        }
        if (name != "glue" && config != null && config != name)
            throw FinetuneException.Missing($"Dataset '{name}' has no configuration '{config}'.");
        return name switch
        {
            // Also served by the Hub, and embedded in the library as the last resort.
            "rotten_tomatoes" => Directory.Exists(Path.Combine(root, "rotten_tomatoes"))
                ? RottenTomatoes(Path.Combine(root, "rotten_tomatoes"), o) : RottenTomatoesSources.HubOrEmbedded(o),
            "glue" => Glue.Build(config ?? throw FinetuneException.Invalid($"Dataset 'glue' needs a configuration: one of {string.Join(", ", GlueConfigs)} (e.g. \"glue/mrpc\")."), Need("glue"), o),
            "imdb" => Imdb(Need("imdb"), o),
            "ag_news" => AgNews(Need("ag_news"), o),
            _ => YelpReviewFull(Need("yelp_review_full"), o),
        };
    }

    private static LoadOptions With(LoadOptions o, Features features, bool header = true, IReadOnlyList<string>? names = null) => new()
    {
        Features = features,
        HasHeader = header,
        ColumnNames = names,
        SkipBadRows = o.SkipBadRows,
        Warning = o.Warning,
        Encoding = o.Encoding,
    };

    private static DatasetDict RottenTomatoes(string dir, LoadOptions o)
    {
        var features = RottenTomatoesSources.Features();
        string hf = Path.Combine(dir, "hf_splits");
        var d = new DatasetDict();
        if (Directory.Exists(hf))
        {
            foreach (var split in new[] { "train", "validation", "test" })
            {
                string csv = Path.Combine(hf, split + ".csv"), jsonl = Path.Combine(hf, split + ".jsonl");
                d[split] = File.Exists(csv) ? LoadDataset.LoadFile(csv, With(o, features))
                    : LoadDataset.LoadFile(jsonl, With(o, features));
            }
            return d;
        }
        return RottenTomatoesFromPolarity(Path.Combine(dir, "rt-polaritydata"));
    }

    /// <summary>HF's recipe from the original files: latin-1, each line stripped, 80/10/10 per class, pos first.</summary>
    internal static DatasetDict RottenTomatoesFromPolarity(string dir)
    {
        string[] Read(string file)
        {
            string p = Path.Combine(dir, file);
            string text = TextSource.Decode(TextSource.ReadBytes(p), p, "latin-1");
            var lines = new List<string>();
            using var r = new StringReader(text);
            for (string? l = r.ReadLine(); l != null; l = r.ReadLine()) lines.Add(PyStrip(l));
            return lines.ToArray();
        }
        var pos = Read("rt-polarity.pos");
        var neg = Read("rt-polarity.neg");
        var features = new Features { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } };
        var d = new DatasetDict();
        foreach (var (split, from, to) in new[] { ("train", 0.0, 0.8), ("validation", 0.8, 0.9), ("test", 0.9, 1.0) })
        {
            var texts = new List<string?>();
            var labels = new List<long>();
            foreach (var (samples, label) in new[] { (pos, 1L), (neg, 0L) })
            {
                int a = (int)(samples.Length * from + 0.5), b = (int)(samples.Length * to + 0.5);
                for (int i = a; i < b; i++) { texts.Add(samples[i]); labels.Add(label); }
            }
            d[split] = new Dataset(features.Clone(), new Column[] { Column.Strings(texts.ToArray()), Column.Int64s(labels.ToArray()) },
                Dataset.Hash("rotten_tomatoes", FileFingerprint.Of(Path.Combine(dir, "rt-polarity.pos"), Path.Combine(dir, "rt-polarity.neg")), split));
        }
        return d;
    }

    /// <summary>Python's str.strip(): removes the characters str.isspace() accepts from both ends.</summary>
    internal static string PyStrip(string s)
    {
        static bool IsPySpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');
        int a = 0, b = s.Length;
        while (a < b && IsPySpace(s[a])) a++;
        while (b > a && IsPySpace(s[b - 1])) b--;
        return s[a..b];
    }

    private static DatasetDict Imdb(string dir, LoadOptions o)
    {
        var label = new ClassLabel(["neg", "pos"]);
        var features = new Features { { "text", Value.String }, { "label", label } };
        var d = new DatasetDict();
        foreach (var (split, file) in new[] { ("train", "imdb_train.csv.gz"), ("test", "imdb_test.csv.gz"), ("unsupervised", "imdb_unsup.csv.gz") })
        {
            string p = Path.Combine(dir, file);
            if (!File.Exists(p))
            {
                if (split == "unsupervised") continue;
                throw FinetuneException.Missing($"Dataset 'imdb' needs '{p}', which does not exist.");
            }
            var ds = LoadDataset.LoadFile(p, With(o, new Features { { "text", Value.String }, { "label", label } }));
            if (!ds.Features.Contains("label"))
            {
                var minus = new long[ds.NumRows];
                Array.Fill(minus, -1L);
                ds = new Dataset(features.Clone(), new Column[] { ds.GetColumn("text"), Column.Int64s(minus) }, Dataset.Hash(ds.Fingerprint, "imdb-unsup")) { SourceFiles = ds.SourceFiles };
            }
            else ds = ds.SelectColumns("text", "label");
            d[split] = ds;
        }
        return d;
    }

    private static DatasetDict AgNews(string dir, LoadOptions o)
    {
        var features = new Features { { "text", Value.String }, { "label", new ClassLabel(["World", "Sports", "Business", "Sci/Tech"]) } };
        var d = new DatasetDict();
        foreach (var split in new[] { "train", "test" })
        {
            string p = Path.Combine(dir, split + ".csv");
            if (!File.Exists(p)) continue;
            var raw = LoadDataset.LoadFile(p, With(o, new Features { { "class", Value.Int64 }, { "title", Value.String }, { "description", Value.String } }, header: false, names: ["class", "title", "description"]));
            var titles = raw.GetStrings("title");
            var descs = raw.GetStrings("description");
            var classes = raw.GetInts("class");
            var text = new string?[raw.NumRows];
            var labels = new long[raw.NumRows];
            for (int i = 0; i < text.Length; i++)
            {
                text[i] = titles[i] + " " + descs[i];
                labels[i] = classes[i] - 1;
                if (labels[i] < 0 || labels[i] > 3) throw FinetuneException.Invalid($"{p}: row {i + 1} has class {classes[i]}, outside 1-4.");
            }
            d[split] = new Dataset(features.Clone(), new Column[] { Column.Strings(text), Column.Int64s(labels) }, Dataset.Hash(raw.Fingerprint, "ag_news")) { SourceFiles = raw.SourceFiles };
        }
        if (d.Count == 0) throw FinetuneException.Missing($"Dataset 'ag_news' needs train.csv or test.csv in '{dir}'.");
        return d;
    }

    private static DatasetDict YelpReviewFull(string dir, LoadOptions o)
    {
        var features = new Features { { "label", new ClassLabel(["1 star", "2 star", "3 stars", "4 stars", "5 stars"]) }, { "text", Value.String } };
        var d = new DatasetDict();
        foreach (var split in new[] { "train", "test" })
        {
            string p = Path.Combine(dir, split + ".csv");
            if (!File.Exists(p)) continue;
            var raw = LoadDataset.LoadFile(p, With(o, new Features { { "stars", Value.Int64 }, { "text", Value.String } }, header: false, names: ["stars", "text"]));
            var stars = raw.GetInts("stars");
            var labels = new long[stars.Length];
            for (int i = 0; i < labels.Length; i++) labels[i] = stars[i] - 1;
            d[split] = new Dataset(features.Clone(), new Column[] { Column.Int64s(labels), raw.GetColumn("text") }, Dataset.Hash(raw.Fingerprint, "yelp")) { SourceFiles = raw.SourceFiles };
        }
        if (d.Count == 0) throw FinetuneException.Missing($"Dataset 'yelp_review_full' needs train.csv or test.csv in '{dir}'.");
        return d;
    }

    internal static long ParseInt(string s, string where) =>
        long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : throw FinetuneException.Invalid($"{where}: '{s}' is not an integer.");
}
