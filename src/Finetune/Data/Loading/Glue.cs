using System.Globalization;

namespace Finetune.Data.Loading;

/// <summary>
/// GLUE tasks from the official `glue_data` TSV layout, read as HF's `glue` builder reads them: tab-separated with
/// quoting off, `idx` = the row number in the source file, test labels -1, rows with missing fields dropped, and
/// MRPC rebuilt from the msr_paraphrase sources with dev_ids (so its idx numbers the original training file).
/// </summary>
internal static class Glue
{
    private sealed record Task(string Dir, (string Feature, string Column)[] Text, string[]? Classes, string LabelColumn);

    private static readonly Dictionary<string, Task> Tasks = new()
    {
        ["cola"] = new("CoLA", [("sentence", "sentence")], ["unacceptable", "acceptable"], "is_acceptable"),
        ["sst2"] = new("SST-2", [("sentence", "sentence")], ["negative", "positive"], "label"),
        ["mrpc"] = new("MRPC", [("sentence1", "#1 String"), ("sentence2", "#2 String")], ["not_equivalent", "equivalent"], "Quality"),
        ["stsb"] = new("STS-B", [("sentence1", "sentence1"), ("sentence2", "sentence2")], null, "score"),
        ["qnli"] = new("QNLI", [("question", "question"), ("sentence", "sentence")], ["entailment", "not_entailment"], "label"),
        ["rte"] = new("RTE", [("sentence1", "sentence1"), ("sentence2", "sentence2")], ["entailment", "not_entailment"], "label"),
        ["wnli"] = new("WNLI", [("sentence1", "sentence1"), ("sentence2", "sentence2")], ["not_entailment", "entailment"], "label"),
        // The diagnostic set: test only, no labels (HF reads AX.tsv, which glue_data names diagnostic/diagnostic.tsv).
        ["ax"] = new("diagnostic", [("premise", "sentence1"), ("hypothesis", "sentence2")], ["entailment", "neutral", "contradiction"], ""),
    };

    public static DatasetDict Build(string config, string glueDir, LoadOptions o)
    {
        if (!Tasks.TryGetValue(config, out var task))
            throw FinetuneException.Missing($"GLUE has no configuration '{config}' here; the available ones are: {string.Join(", ", Tasks.Keys)}.");
        string dir = Path.Combine(glueDir, task.Dir);
        if (!Directory.Exists(dir)) throw FinetuneException.Missing($"glue/{config} needs the folder '{dir}', which does not exist.");
        var d = new DatasetDict();
        var files = config == "ax" ? new[] { ("test", "diagnostic.tsv") } : new[] { ("train", "train.tsv"), ("validation", "dev.tsv"), ("test", "test.tsv") };
        foreach (var (split, file) in files)
        {
            if (config == "mrpc")
            {
                var mrpc = Mrpc(dir, split, task);
                if (mrpc != null) d[split] = mrpc;
                continue;
            }
            string p = Path.Combine(dir, file);
            if (File.Exists(p)) d[split] = FromTsv(p, config, split, task);
        }
        if (d.Count == 0) throw FinetuneException.Missing($"glue/{config}: no train.tsv, dev.tsv or test.tsv in '{dir}'.");
        return d;
    }

    private static IEnumerable<CsvRecord> Records(string path) =>
        new CsvParser(TextSource.Decode(TextSource.ReadBytes(path), path, null), path, '\t', quoting: false, onBadRow: null).Records();

    private static Features FeaturesOf(Task task)
    {
        var f = new Features();
        foreach (var (feat, _) in task.Text) f.Add(feat, Value.String);
        f.Add("label", task.Classes != null ? new ClassLabel(task.Classes) : Value.Float32);
        f.Add("idx", Value.Int32);
        return f;
    }

    private static Dataset FromTsv(string path, string config, string split, Task task)
    {
        bool colaNoHeader = config == "cola" && split != "test";
        var texts = task.Text.Select(_ => new List<string?>()).ToArray();
        var labels = new List<double>();
        var idx = new List<int>();
        string[]? header = null;
        int n = -1;
        var classes = task.Classes != null ? new ClassLabel(task.Classes) : null;
        foreach (var rec in Records(path))
        {
            if (!colaNoHeader && header == null) { header = rec.Fields; continue; }
            n++;
            string? Field(string column)
            {
                if (colaNoHeader)
                {
                    int k = column == "sentence" ? 3 : 1;
                    return k < rec.Fields.Length ? rec.Fields[k] : null;
                }
                int i = Array.IndexOf(header!, column);
                return i >= 0 && i < rec.Fields.Length ? rec.Fields[i] : null;
            }
            var values = task.Text.Select(t => Field(t.Column)).ToArray();
            bool hasLabelColumn = colaNoHeader || Array.IndexOf(header!, task.LabelColumn) >= 0;
            double label;
            if (!hasLabelColumn) label = -1;
            else
            {
                string? raw = Field(task.LabelColumn);
                if (raw == null) continue; // HF drops rows with a missing field
                if (classes != null)
                {
                    if (classes.TryStr2Int(raw, out int id)) label = id;
                    else if (raw.Length == 0) continue;
                    else label = KnownDatasets.ParseInt(raw, $"{path}:{rec.Line}");
                }
                else label = raw.Length == 0 ? double.NaN : (float)double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
            if (values.Any(v => v == null)) continue;
            for (int t = 0; t < values.Length; t++) texts[t].Add(values[t]);
            labels.Add(label);
            idx.Add(n);
        }
        return Make(task, texts, labels, idx, FileFingerprint.Of(path), new[] { path });
    }

    private static Dataset Make(Task task, List<string?>[] texts, List<double> labels, List<int> idx, string fingerprint, string[] sources)
    {
        var cols = new List<Column>();
        foreach (var t in texts) cols.Add(Column.Strings(t.ToArray()));
        cols.Add(task.Classes != null ? Column.Int64s(labels.Select(l => (long)l).ToArray()) : Column.Float32s(labels.Select(l => (float)l).ToArray()));
        cols.Add(Column.Int32s(idx.ToArray()));
        return new Dataset(FeaturesOf(task), cols, fingerprint) { SourceFiles = sources.Select(Path.GetFullPath).ToArray() };
    }

    private static Dataset? Mrpc(string dir, string split, Task task)
    {
        string train = Path.Combine(dir, "msr_paraphrase_train.txt"), test = Path.Combine(dir, "msr_paraphrase_test.txt"), devIds = Path.Combine(dir, "dev_ids.tsv");
        string source = split == "test" ? test : train;
        if (!File.Exists(source) || (split != "test" && !File.Exists(devIds))) return null;
        HashSet<(string, string)> dev = split == "test" ? new() : Records(devIds).Select(r => (r.Fields[0], r.Fields.Length > 1 ? r.Fields[1] : "")).ToHashSet();
        var texts = new[] { new List<string?>(), new List<string?>() };
        var labels = new List<double>();
        var idx = new List<int>();
        string[]? header = null;
        int n = -1;
        foreach (var rec in Records(source))
        {
            if (header == null) { header = rec.Fields; continue; }
            n++;
            string Get(string c)
            {
                int i = Array.IndexOf(header, c);
                return i >= 0 && i < rec.Fields.Length ? rec.Fields[i] : throw FinetuneException.Invalid($"{source}:{rec.Line}: column '{c}' is missing.");
            }
            if (split != "test")
            {
                bool inDev = dev.Contains((Get("#1 ID"), Get("#2 ID")));
                if (inDev != (split == "validation")) continue;
            }
            texts[0].Add(Get("#1 String"));
            texts[1].Add(Get("#2 String"));
            labels.Add(KnownDatasets.ParseInt(Get("Quality"), $"{source}:{rec.Line}"));
            idx.Add(n);
        }
        var sources = split == "test" ? new[] { test } : new[] { train, devIds };
        return Make(task, texts, labels, idx, Dataset.Hash(FileFingerprint.Of(sources), split), sources);
    }
}
