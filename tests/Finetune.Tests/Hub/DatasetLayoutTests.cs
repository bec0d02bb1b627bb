using Finetune.Hub;

namespace Finetune.Tests.Hub;

/// <summary>Split and configuration choice, checked against how the datasets library reads the same repositories.</summary>
public class DatasetLayoutTests
{
    // The card of nyu-mll/glue, shortened to two configurations (the real one lists every GLUE task this way).
    private const string GlueCard = """
        ---
        language:
        - en
        configs:
        - config_name: cola
          data_files:
          - split: train
            path: cola/train-*
          - split: validation
            path: cola/validation-*
          - split: test
            path: cola/test-*
        - config_name: sst2
          data_files:
          - split: train
            path: sst2/train-*
          - split: validation
            path: sst2/validation-*
          - split: test
            path: sst2/test-*
        ---
        # GLUE
        """;

    private static readonly string[] GlueFiles =
    [
        ".gitattributes", "README.md",
        "cola/test-00000-of-00001.parquet", "cola/train-00000-of-00001.parquet", "cola/validation-00000-of-00001.parquet",
        "sst2/test-00000-of-00001.parquet", "sst2/train-00000-of-00001.parquet", "sst2/validation-00000-of-00001.parquet",
    ];

    [Fact]
    public void CardConfigsChooseTheFilesOfTheNamedConfiguration()
    {
        var sel = DatasetLayout.FromRepoFiles("nyu-mll/glue", GlueFiles, GlueCard, "sst2");
        Assert.Equal("sst2", sel.Config);
        Assert.Equal(["train", "validation", "test"], sel.Splits.Keys);
        Assert.Equal(["sst2/validation-00000-of-00001.parquet"], sel.Splits["validation"]);

        var several = Assert.Throws<FinetuneException>(() => DatasetLayout.FromRepoFiles("nyu-mll/glue", GlueFiles, GlueCard, null));
        Assert.Contains("cola, sst2", several.Message);
        var unknown = Assert.Throws<FinetuneException>(() => DatasetLayout.FromRepoFiles("nyu-mll/glue", GlueFiles, GlueCard, "mnli"));
        Assert.Equal(ErrorKind.NotFound, unknown.Kind);
    }

    [Fact]
    public void ACardWithADefaultConfigurationAndPlainDataFilesIsRead()
    {
        const string card = "---\nconfigs:\n- config_name: plain\n  data_files: \"*.csv\"\n- config_name: main\n  default: true\n  data_files:\n  - split: train\n    path: [\"a/*.jsonl\", \"b/*.jsonl\"]\n---\n";
        string[] files = ["README.md", "x.csv", "a/1.jsonl", "b/2.jsonl"];
        var sel = DatasetLayout.FromRepoFiles("org/ds", files, card, null);
        Assert.Equal("main", sel.Config);
        Assert.Equal(["a/1.jsonl", "b/2.jsonl"], sel.Splits["train"]);
        Assert.Equal(["x.csv"], DatasetLayout.FromRepoFiles("org/ds", files, card, "plain").Splits["train"]);
    }

    [Theory]
    // The sharded name gives any split name, as in Hub-converted datasets (validation_matched of MNLI).
    [InlineData("data/train-00000-of-00002.parquet|data/train-00001-of-00002.parquet|data/validation_matched-00000-of-00001.parquet",
        "train=data/train-00000-of-00002.parquet,data/train-00001-of-00002.parquet;validation_matched=data/validation_matched-00000-of-00001.parquet")]
    // Keywords in folder names win over keywords in file names.
    [InlineData("train/a.csv|dev/b.csv|test/c.csv|test.csv", "train=train/a.csv;validation=dev/b.csv;test=test/c.csv")]
    // Keywords in file names, delimited by separators; "val" does not match "validation" twice.
    [InlineData("my_train.csv|validation.csv|eval-2.csv", "train=my_train.csv;validation=validation.csv;test=eval-2.csv")]
    // No keyword anywhere: everything is train.
    [InlineData("a.csv|b.csv", "train=a.csv,b.csv")]
    // "trainer.csv" is not the train split (no separator after the keyword).
    [InlineData("trainer.csv|test.csv", "test=test.csv")]
    public void SplitsAreInferredWithTheDatasetsLibrarysPatterns(string files, string expected)
    {
        var sel = DatasetLayout.FromRepoFiles("org/ds", files.Split('|'), null, null);
        string actual = string.Join(";", sel.Splits.Select(kv => kv.Key + "=" + string.Join(",", kv.Value)));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void TheParquetExportIsSplitByFolderWithPartialSplitsNamedPlainly()
    {
        string[] files = ["cola/train/0000.parquet", "cola/test/0000.parquet", "sst2/partial-train/0000.parquet", "sst2/partial-train/0001.parquet", "sst2/validation/0000.parquet"];
        var sel = DatasetLayout.FromParquetExport("glue", files, "sst2");
        Assert.Equal(["train", "validation"], sel.Splits.Keys);
        Assert.Equal(["sst2/partial-train/0000.parquet", "sst2/partial-train/0001.parquet"], sel.Splits["train"]);
        Assert.Throws<FinetuneException>(() => DatasetLayout.FromParquetExport("glue", files, null));
        Assert.Equal("default", DatasetLayout.FromParquetExport("x", ["default/train/0000.parquet", "other/train/0000.parquet"], null).Config);
    }

    [Theory]
    [InlineData("sst2/train-*", "sst2/train-00000-of-00001.parquet", true)]
    [InlineData("sst2/train-*", "sst2/sub/train-0.parquet", false)]
    [InlineData("**/*.csv", "a.csv", true)]
    [InlineData("**/*.csv", "a/b/c.csv", true)]
    [InlineData("data/[!x]*.json", "data/a.json", true)]
    [InlineData("data/[!x]*.json", "data/x.json", false)]
    [InlineData("file?.txt", "file1.txt", true)]
    public void GlobsMatchLikeFsspec(string glob, string path, bool match) =>
        Assert.Equal(match, DatasetLayout.GlobRegex(glob).IsMatch(path));

    [Fact]
    public void OnlyTheChosenConfigurationIsDownloaded()
    {
        using var bed = new HubTestBed();
        var files = GlueFiles.Where(f => f.EndsWith(".parquet", StringComparison.Ordinal))
            .ToDictionary(f => f, f => FakeHub.Lfs(System.Text.Encoding.ASCII.GetBytes("PAR1 " + f + " PAR1")));
        files["README.md"] = FakeHub.Git(GlueCard);
        bed.Hub.AddRepo(RepoType.Dataset, "nyu-mll/glue", HubTestBed.Commit1, files);
        using var client = bed.Client();

        var ds = client.ResolveDataset("nyu-mll/glue", config: "sst2");
        Assert.Equal("PAR1 sst2/train-00000-of-00001.parquet PAR1", File.ReadAllText(ds.LocalSplits["train"][0]));
        Assert.Equal(3, bed.Hub.Count("GET", "/cdn/"));
        Assert.False(Directory.Exists(Path.Combine(ds.Folder, "cola")));

        using var offline = bed.Client(offline: true);
        Assert.Equal(ds.Splits, offline.ResolveDataset("nyu-mll/glue", config: "sst2").Splits);
    }
}
