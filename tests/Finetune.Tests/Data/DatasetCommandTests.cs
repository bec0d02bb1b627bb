using System.Text.Json;
using Finetune.Cli;

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
