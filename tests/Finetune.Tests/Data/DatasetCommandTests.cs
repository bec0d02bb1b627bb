using System.Text.Json;
using Finetune.Cli;
using Finetune.Data;

namespace Finetune.Tests.Data;

public class DatasetCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Finetune.Tests.Cli.CliRunner.Run(args);

    [SkippableFact]
    public void InfoJsonHasTheDocumentedShape()
    {
        string root = SharedDatasets.Root;
        var (code, output, _) = Run("dataset", "info", "rotten_tomatoes", "--json", "--data-root", root);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var train = doc.RootElement.GetProperty("splits").GetProperty("train");
        Assert.Equal(8530, train.GetProperty("num_rows").GetInt32());
        Assert.Equal("string", train.GetProperty("columns").GetProperty("text").GetString());
        Assert.Equal(new[] { "neg", "pos" }, train.GetProperty("columns").GetProperty("label").GetProperty("class_label").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal(4265, train.GetProperty("label_counts").GetProperty("neg").GetInt32());
        Assert.Equal(4265, train.GetProperty("label_counts").GetProperty("pos").GetInt32());
        Assert.Equal(new[] { "train", "validation", "test" }, doc.RootElement.GetProperty("splits").EnumerateObject().Select(p => p.Name));
        Assert.StartsWith("{\"splits\": {\"train\": {\"num_rows\": 8530, \"columns\": {\"text\": \"string\", \"label\": {\"class_label\": [\"neg\", \"pos\"]}}, \"label_counts\": {\"neg\": 4265, \"pos\": 4265}}",
            output.Replace("\":", "\": ").Replace(",\"", ", \""));
    }

    [SkippableFact]
    public void HeadShowsRowsOfASplitAndInfoPrintsText()
    {
        string root = SharedDatasets.Root;
        var (code, output, _) = Run("dataset", "head", "glue/mrpc", "--split", "validation", "-n", "2", "--data-root", root);
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal(9, first.RootElement.GetProperty("idx").GetInt32());
        Assert.Equal("equivalent", first.RootElement.GetProperty("label_name").GetString());
        (code, output, _) = Run("dataset", "info", "glue/sst2", "--data-root", root);
        Assert.Equal(0, code);
        Assert.Contains("num_rows: 67349", output);
        Assert.Contains("negative 29780, positive 37569", output);
    }

    [Fact]
    public void BadInputGivesOneLineAndTheKindsExitCode()
    {
        using var tmp = new TempDir();
        var (code, _, err) = Run("dataset", "info", tmp.File("missing.csv"));
        Assert.Equal(4, code);
        Assert.StartsWith("error: ", err);
        File.WriteAllText(tmp.File("bad.csv"), "a,b\n1,2,3\n");
        (code, _, err) = Run("dataset", "head", tmp.File("bad.csv"));
        Assert.Equal(3, code);
        Assert.Contains("bad.csv:2:", err);
    }
}

public class FolderFormatTests
{
    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    [SkippableFact]
    public void HfSplitsFolderWithCsvAndJsonlCopiesIsReadOnceAsDatasetsDoes()
    {
        string dir = SharedData.Require("datasets/rotten_tomatoes/hf_splits");
        var (code, output, err) = Finetune.Tests.Cli.CliRunner.Run("dataset", "info", dir, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var splits = doc.RootElement.GetProperty("splits");
        Assert.Equal(8530, splits.GetProperty("train").GetProperty("num_rows").GetInt32());
        Assert.Equal(1066, splits.GetProperty("validation").GetProperty("num_rows").GetInt32());
        Assert.Equal(1066, splits.GetProperty("test").GetProperty("num_rows").GetInt32());
        // One .csv and one .jsonl per split: a tie, which datasets gives to .jsonl; the command says what it read.
        Assert.Contains("read the json files (train.jsonl, validation.jsonl, test.jsonl) and ignored train.csv, validation.csv, test.csv", err);
        Assert.Equal(new[] { "train.jsonl" }, LoadDataset.Load(dir).DataFiles!["train"].Select(Path.GetFileName));
        (code, output, err) = Finetune.Tests.Cli.CliRunner.Run("dataset", "info", dir);
        Assert.Contains("files: " + Path.Combine(dir, "train.jsonl"), output);
    }

    [Fact]
    public void TheMostFrequentExtensionWinsAndSplitsMustAgree()
    {
        using var t = new TempDir();
        // Two csv files against one jsonl: csv wins (count before the tie-break order).
        Write(t.File("a/train-0.csv"), "text,label\nx,0\n");
        Write(t.File("a/train-1.csv"), "text,label\ny,1\n");
        Write(t.File("a/train.jsonl"), "{\"text\": \"z\", \"label\": 1}\n");
        var dict = LoadDataset.Load(t.File("a"));
        Assert.Equal(2, dict["train"].NumRows);
        Assert.Equal(new[] { "train-0.csv", "train-1.csv" }, dict.DataFiles!["train"].Select(Path.GetFileName));

        // Compressed files count their inner extension too; the tie between .json and .csv goes to .json.
        Write(t.File("b/train.csv.gz"), "");
        Write(t.File("b/train.json"), "{\"text\": \"z\", \"label\": 1}\n");
        dict = LoadDataset.Load(t.File("b"));
        Assert.Equal(new[] { "train.json" }, dict.DataFiles!["train"].Select(Path.GetFileName));

        // A csv train split and a jsonl test split: datasets refuses to guess ("Couldn't infer the same data file format").
        Write(t.File("c/train.csv"), "text,label\nx,0\n");
        Write(t.File("c/test.jsonl"), "{\"text\": \"z\", \"label\": 1}\n");
        var e = Assert.Throws<FinetuneException>(() => LoadDataset.Load(t.File("c")));
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
    }
}
