using System.Collections;
using Finetune.Data;

namespace Finetune.Tests.Data;

public class OperationsTests
{
    private static Dataset Small(int n = 10) => Dataset.FromDict(new Dictionary<string, IList>
    {
        ["text"] = Enumerable.Range(0, n).Select(i => "row " + i).ToArray(),
        ["label"] = Enumerable.Range(0, n).Select(i => (long)(i % 2)).ToArray(),
    }, new Features { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } });

    [Fact]
    public void ShuffleUsesNumpysPermutation()
    {
        var s = Small().Shuffle(42);
        Assert.Equal(new[] { 5, 6, 0, 7, 3, 2, 4, 9, 1, 8 }.Select(i => "row " + i), s.GetStrings("text"));
        Assert.Equal(new[] { 1, 0, 0, 1, 1, 0, 0, 1, 1, 0 }, s.GetInts("label"));
        Assert.IsType<ClassLabel>(s.Features["label"]);
    }

    [SkippableFact]
    public void ShuffleSelectIsDeterministicAcrossRunsAndThreadCounts()
    {
        var train = SharedDatasets.Get("rotten_tomatoes")["train"];
        var a = train.Shuffle(42).Select(0, 1000);
        var b = train.Shuffle(42).Select(0, 1000);
        Assert.Equal(a.GetStrings("text"), b.GetStrings("text"));
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        var perm = new NumpyRandom(42).Permutation(train.NumRows);
        var all = train.GetStrings("text");
        Assert.Equal(perm.Take(1000).Select(i => all[i]), a.GetStrings("text"));
        // A map over the selection gives the same result on 1 thread and on all cores.
        MapOptions Opt(int threads) => new() { NumProc = threads, BatchSize = 37, Fingerprint = "len" };
        IReadOnlyDictionary<string, IList> Len(Dataset batch) => new Dictionary<string, IList> { ["n"] = batch.GetStrings("text").Select(t => t!.Length).ToArray() };
        var one = a.Map(Len, Opt(1));
        var many = a.Map(Len, Opt(Environment.ProcessorCount * 2));
        Assert.Equal(one.GetInts("n"), many.GetInts("n"));
        Assert.Equal(one.Fingerprint, many.Fingerprint);
        Assert.Equal(a.GetStrings("text").Select(t => t!.Length), one.GetInts("n"));
    }

    [Fact]
    public void MapBatchedAddsAndRemovesColumnsAndReportsProgress()
    {
        var ds = Small(25);
        var reports = new List<int>();
        var progress = new SyncProgress(p => { lock (reports) reports.Add(p.Done); });
        var mapped = ds.Map(b => new Dictionary<string, IList>
        {
            ["input_ids"] = b.GetStrings("text").Select(t => t!.Select(c => (int)c).ToArray()).ToArray(),
        }, new MapOptions { BatchSize = 10, RemoveColumns = ["text"], Progress = progress });
        Assert.Equal(new[] { "label", "input_ids" }, mapped.ColumnNames);
        Assert.Equal("sequence<int32>", mapped.Features["input_ids"].TypeName);
        Assert.Equal("row 12".Select(c => (int)c), mapped.GetIntLists("input_ids")[12]!);
        Assert.Equal(25, reports.Max());
        Assert.Equal(3, reports.Count);
        // A batch function returning the wrong number of rows is the user's error, reported as such.
        var e = Assert.Throws<FinetuneException>(() => ds.Map(b => new Dictionary<string, IList> { ["x"] = new[] { 1 } }, new MapOptions { BatchSize = 10 }));
        Assert.Contains("one value per row", e.Message);
    }

    private sealed class SyncProgress(Action<(int Done, int Total)> f) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => f(value);
    }

    [Fact]
    public void MapRowsFilterSelectRenameRemoveCast()
    {
        var ds = Small(6);
        var upper = ds.MapRows(r => new Dictionary<string, object?> { ["upper"] = ((string)r["text"]!).ToUpperInvariant() });
        Assert.Equal("ROW 3", upper.GetStrings("upper")[3]);
        var pos = ds.Filter(r => (long)r["label"]! == 1);
        Assert.Equal(new[] { "row 1", "row 3", "row 5" }, pos.GetStrings("text"));
        var renamed = ds.RenameColumn("label", "labels");
        Assert.Equal(new[] { "text", "labels" }, renamed.ColumnNames);
        Assert.Equal(new[] { "labels" }, renamed.RemoveColumns("text").ColumnNames);
        Assert.Equal(new[] { "label", "text" }, ds.SelectColumns("label", "text").ColumnNames);
        var asFloat = ds.CastColumn("label", Value.Float32);
        Assert.Equal(new[] { 0f, 1f, 0f, 1f, 0f, 1f }, asFloat.GetFloats("label"));
        var e = Assert.Throws<FinetuneException>(() => ds.RemoveColumns("nope"));
        Assert.Contains("text, label", e.Message);
    }

    [Fact]
    public void ClassEncodeColumnSortsNamesAndConcatenateJoins()
    {
        var ds = Dataset.FromDict(new Dictionary<string, IList> { ["stance"] = new[] { "NEUTRAL", "AGAINST", "FAVOR", "AGAINST" } });
        var enc = ds.ClassEncodeColumn("stance");
        Assert.Equal(new[] { "AGAINST", "FAVOR", "NEUTRAL" }, ((ClassLabel)enc.Features["stance"]).Names);
        Assert.Equal(new[] { 2, 0, 1, 0 }, enc.GetInts("stance"));
        // Like HF, names are str(value) sorted as text: 10 sorts before 2.
        var nums = Dataset.FromDict(new Dictionary<string, IList> { ["y"] = new long[] { 2, 10, 1, 2 } }).ClassEncodeColumn("y");
        Assert.Equal(new[] { "1", "10", "2" }, ((ClassLabel)nums.Features["y"]).Names);
        Assert.Equal(new[] { 2, 1, 0, 2 }, nums.GetInts("y"));
        var both = Dataset.Concatenate(Small(3), Small(2));
        Assert.Equal(new[] { "row 0", "row 1", "row 2", "row 0", "row 1" }, both.GetStrings("text"));
        var bad = Assert.Throws<FinetuneException>(() => Dataset.Concatenate(Small(2), enc));
        Assert.Contains("different columns", bad.Message);
    }

    [Fact]
    public void TrainTestSplitFollowsHf()
    {
        // HF: test = first ceil(0.2*n) of default_rng(seed).permutation(n), train = the rest.
        var ds = Small(10);
        var split = ds.TrainTestSplit(testSize: 0.2, seed: 42);
        Assert.Equal(new[] { "row 5", "row 6" }, split["test"].GetStrings("text"));
        Assert.Equal(new[] { 0, 7, 3, 2, 4, 9, 1, 8 }.Select(i => "row " + i), split["train"].GetStrings("text"));
    }

    [Fact]
    public void StratifiedSplitKeepsClassProportions()
    {
        var labels = Enumerable.Range(0, 100).Select(i => (long)(i < 70 ? 0 : 1)).ToArray();
        var ds = Dataset.FromDict(new Dictionary<string, IList> { ["id"] = Enumerable.Range(0, 100).ToArray(), ["label"] = labels },
            new Features { { "label", new ClassLabel(["a", "b"]) } });
        var s1 = ds.TrainTestSplit(0.2, seed: 7, stratifyByColumn: "label");
        var s2 = ds.TrainTestSplit(0.2, seed: 7, stratifyByColumn: "label");
        Assert.Equal(20, s1["test"].NumRows);
        Assert.Equal(14, s1["test"].GetInts("label").Count(l => l == 0));
        Assert.Equal(56, s1["train"].GetInts("label").Count(l => l == 0));
        Assert.Equal(s1["test"].GetInts("id"), s2["test"].GetInts("id"));
        Assert.Empty(s1["test"].GetInts("id").Intersect(s1["train"].GetInts("id")));
    }

    [Fact]
    public void CsvAndJsonlRoundTrip()
    {
        using var tmp = new TempDir();
        var ds = Dataset.FromDict(new Dictionary<string, IList>
        {
            ["text"] = new[] { "plain", "with, comma", "with \"quotes\"\nand newline", "" },
            ["label"] = new long[] { 1, 0, 1, 0 },
            ["score"] = new[] { 0.5, 1.25, -2.0, 3.0 },
        }, new Features { { "label", new ClassLabel(["neg", "pos"]) } });
        ds.ToCsv(tmp.File("x.csv"));
        ds.ToJsonl(tmp.File("x.jsonl"));
        var features = new Features { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } };
        foreach (var file in new[] { "x.csv", "x.jsonl" })
        {
            var back = Dataset.FromFile(tmp.File(file), new LoadOptions { Features = features });
            Assert.Equal(ds.GetStrings("text"), back.GetStrings("text"));
            Assert.Equal(ds.GetInts("label"), back.GetInts("label"));
            Assert.Equal(ds.GetFloats("score"), back.GetFloats("score"));
        }
    }
}
