using System.IO.Compression;
using System.Text;
using Finetune.Data;

namespace Finetune.Tests.Data;

/// <summary>Bad files fail with file:line(:column) in one sentence, or are skipped and counted when asked.</summary>
public class MalformedInputTests
{
    private static readonly Features TextLabel = new() { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } };

    private static FinetuneException Fails(string path, LoadOptions? o = null)
    {
        var e = Assert.Throws<FinetuneException>(() => Dataset.FromFile(path, o));
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        return e;
    }

    [Fact]
    public void CsvWrongColumnCountNamesFileAndLine()
    {
        using var tmp = new TempDir();
        string p = tmp.File("bad.csv");
        File.WriteAllText(p, "text,label\ngood,1\n\"a, quoted\",0\nthree,1,extra\n");
        var e = Fails(p);
        Assert.Contains("bad.csv:4:", e.Message);
        Assert.Contains("expected 2 fields", e.Message);
    }

    [Fact]
    public void CsvBrokenQuotingNamesLineAndColumn()
    {
        using var tmp = new TempDir();
        string p = tmp.File("q.csv");
        File.WriteAllText(p, "text,label\n\"fine\",1\n\"oops\"x,0\n");
        Assert.Contains("q.csv:3:7:", Fails(p).Message);
        File.WriteAllText(p, "text,label\n\"never closed,1\nmore,0\n");
        var e = Fails(p);
        Assert.Contains("q.csv:2:1:", e.Message);
        Assert.Contains("unterminated", e.Message);
    }

    [Fact]
    public void NonNumericLabelAndUnknownLabelName()
    {
        using var tmp = new TempDir();
        string p = tmp.File("l.csv");
        File.WriteAllText(p, "text,score\na,1.5\nb,high\n");
        var e = Fails(p, new LoadOptions { Features = new Features { { "score", Value.Float32 } } });
        Assert.Contains("l.csv:3:2:", e.Message);
        Assert.Contains("'high' is not a number", e.Message);
        File.WriteAllText(p, "text,label\na,pos\nb,positive\n");
        e = Fails(p, new LoadOptions { Features = TextLabel });
        Assert.Contains("l.csv:3:2:", e.Message);
        Assert.Contains("the known labels are: neg, pos", e.Message);
        var ok = Dataset.FromFile(p.Replace("l.csv", "l.csv"), new LoadOptions { Features = TextLabel, SkipBadRows = true, Warning = _ => { } });
        Assert.Equal(1, ok.NumRows);
    }

    [Fact]
    public void InvalidJsonNamesLineAndJsonArrayToo()
    {
        using var tmp = new TempDir();
        string p = tmp.File("x.jsonl");
        File.WriteAllText(p, "{\"text\": \"a\", \"label\": 0}\n\n{\"text\": \"b\", \"label\": }\n");
        var e = Fails(p);
        Assert.Contains("x.jsonl:3:", e.Message);
        Assert.Contains("invalid JSON", e.Message);
        string arr = tmp.File("a.json");
        File.WriteAllText(arr, "[\n {\"text\": \"a\"},\n {\"text\": \"b\",,}\n]");
        Assert.Contains("a.json:3:", Fails(arr).Message);
        File.WriteAllText(p, "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": \"zero\"}\n");
        Assert.Contains("x.jsonl:2: field 'label'", Fails(p, new LoadOptions { Features = new Features { { "label", Value.Int64 } } }).Message);
    }

    [Fact]
    public void SkipBadRowsCountsThemInAWarning()
    {
        using var tmp = new TempDir();
        string p = tmp.File("s.csv");
        File.WriteAllText(p, "text,label\na,1\nb,1,x\n\"c\"z,0\nd,0\n");
        var warnings = new List<string>();
        var ds = Dataset.FromFile(p, new LoadOptions { SkipBadRows = true, Warning = warnings.Add });
        Assert.Equal(new[] { "a", "d" }, ds.GetStrings("text"));
        Assert.Single(warnings);
        Assert.Contains("skipped 2 bad row(s)", warnings[0]);
        string j = tmp.File("s.jsonl");
        File.WriteAllText(j, "{\"text\": \"a\"}\nnot json\n{\"text\": \"b\"}\n");
        warnings.Clear();
        ds = Dataset.FromFile(j, new LoadOptions { SkipBadRows = true, Warning = warnings.Add });
        Assert.Equal(2, ds.NumRows);
        Assert.Contains("s.jsonl:2:", warnings[0]);
    }

    [Fact]
    public void InvalidUtf8IsReportedWithItsByteOffsetUnlessAnEncodingIsGiven()
    {
        using var tmp = new TempDir();
        string p = tmp.File("latin.csv");
        byte[] bytes = Encoding.ASCII.GetBytes("text,label\ncaf?,1\n");
        bytes[14] = 0xE9; // 'é' in latin-1, invalid as UTF-8
        File.WriteAllBytes(p, bytes);
        var e = Fails(p);
        Assert.Contains("byte offset 14", e.Message);
        Assert.Contains("line 2", e.Message);
        Assert.Equal("café", Dataset.FromFile(p, new LoadOptions { Encoding = "latin-1" }).GetStrings("text")[0]);
        bytes[14] = 0x92; // cp1252 right single quote; a C1 control in latin-1
        File.WriteAllBytes(p, bytes);
        Assert.Equal("caf\u2019", Dataset.FromFile(p, new LoadOptions { Encoding = "cp1252" }).GetStrings("text")[0]);
        Assert.Equal("caf\u0092", Dataset.FromFile(p, new LoadOptions { Encoding = "latin-1" }).GetStrings("text")[0]);
    }

    [Fact]
    public void BomCrlfHeaderlessTsvGzipGlobAndEmptyTexts()
    {
        using var tmp = new TempDir();
        string p = tmp.File("bom.tsv");
        File.WriteAllBytes(p, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("Quality\ttext\r\n1\ta \"quoted\r\n0\t\r\n")]);
        var ds = Dataset.FromFile(p);
        Assert.Equal(new[] { "Quality", "text" }, ds.ColumnNames);
        Assert.Equal(new[] { "a \"quoted", "" }, ds.GetStrings("text"));
        Assert.Equal("int64", ds.Features["Quality"].TypeName);

        string h = tmp.File("nohead.csv");
        File.WriteAllText(h, "\"3\",\"t\",\"d\"\n\"1\",\"t2\",\"d2\"\n");
        ds = Dataset.FromFile(h, new LoadOptions { HasHeader = false, ColumnNames = ["cls", "title", "desc"] });
        Assert.Equal(new[] { 3, 1 }, ds.GetInts("cls"));

        string gz = tmp.File("train-0.csv.gz");
        using (var fs = File.Create(gz))
        using (var z = new GZipStream(fs, CompressionLevel.Fastest))
            z.Write(Encoding.UTF8.GetBytes("text,label\nx,pos\n"));
        File.WriteAllText(tmp.File("train-1.csv"), "text,label\ny,neg\n");
        File.WriteAllText(tmp.File("test.csv"), "text,label\nz,neg\n");
        var d = LoadDataset.Load("csv", null, new LoadOptions
        {
            DataFiles = new Dictionary<string, IReadOnlyList<string>> { ["train"] = [tmp.File("train-*")], ["test"] = [tmp.File("test.csv")] },
            Features = TextLabel,
        });
        Assert.Equal(new[] { "x", "y" }, d["train"].GetStrings("text"));
        Assert.Equal(new[] { 1, 0 }, d["train"].GetInts("label"));
        var folder = LoadDataset.Load(tmp.Path, null, new LoadOptions { Features = TextLabel });
        Assert.Equal(new[] { "train", "test" }, folder.Keys);
        Assert.Equal(2, folder["train"].NumRows);
    }
}
