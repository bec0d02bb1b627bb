using Finetune.Cli;
using Finetune.Hub;
using Finetune.Models;

namespace Finetune.Tests.Hub;

/// <summary>
/// The commands that name a model or a dataset take a Hub id too: each gives, from the fake Hub, exactly what it
/// gives from the local files the Hub serves.
/// </summary>
public class HubCliWiringTests
{
    private const string ModelId = "org/bert-cls";

    private static (int Code, string Stdout, string Stderr) Cli(params string[] args) => Finetune.Tests.Cli.CliRunner.Run(args);

    private static void AddModel(HubTestBed bed, string modelDir, string tokenizerDir)
    {
        var files = new Dictionary<string, FakeHub.FakeFile>
        {
            ["config.json"] = new(File.ReadAllBytes(Path.Combine(modelDir, "config.json")), Lfs: false),
            ["model.safetensors"] = new(File.ReadAllBytes(Path.Combine(modelDir, "model.safetensors")), Lfs: true),
        };
        foreach (string f in Directory.EnumerateFiles(tokenizerDir))
            files[Path.GetFileName(f)] = new(File.ReadAllBytes(f), Lfs: false);
        bed.Hub.AddRepo(RepoType.Model, ModelId, HubTestBed.Commit1, files);
    }

    [SkippableFact]
    public void PredictTokenizeAndConvertTakeAHubModelId()
    {
        string golden = SharedData.Require("golden/models/bert");
        string tokenizerDir = SharedData.Require("models/bert-base-uncased");
        using var bed = new HubTestBed();
        AddModel(bed, golden, tokenizerDir);
        // A local folder holding the same files, for the reference runs.
        string local = bed.Dir.File("local");
        Directory.CreateDirectory(local);
        foreach (string f in new[] { Path.Combine(golden, "config.json"), Path.Combine(golden, "model.safetensors") }.Concat(Directory.EnumerateFiles(tokenizerDir)))
            File.Copy(f, Path.Combine(local, Path.GetFileName(f)));

        string ids = bed.Dir.File("ids.jsonl"), texts = bed.Dir.File("texts.jsonl");
        File.WriteAllText(ids, "{\"input_ids\": [101, 523, 777, 102], \"attention_mask\": [1, 1, 1, 1], \"token_type_ids\": [0, 0, 0, 0]}\n{\"input_ids\": [101, 999, 102]}\n");
        File.WriteAllText(texts, "{\"text\": \"Hello, world! It's a café.\", \"text_pair\": \"second text\"}\n{\"text\": \"unaffable\", \"max_length\": 4, \"truncation\": true}\n");

        using var _ = HubSettings.Use(bed.Settings());
        foreach (var (name, suffix) in new[] { (local, "local"), (ModelId, "hub") })
        {
            var predict = Cli("predict", "--model", name, "--input", ids, "--output", bed.Dir.File($"pred-{suffix}.jsonl"));
            Assert.True(predict.Code == 0, predict.Stderr);
            var tokenize = Cli("tokenize", "--model", name, "--input", texts, "--output", bed.Dir.File($"tok-{suffix}.jsonl"));
            Assert.True(tokenize.Code == 0, tokenize.Stderr);
        }
        Assert.Equal(File.ReadAllText(bed.Dir.File("pred-local.jsonl")), File.ReadAllText(bed.Dir.File("pred-hub.jsonl")));
        Assert.Equal(File.ReadAllText(bed.Dir.File("tok-local.jsonl")), File.ReadAllText(bed.Dir.File("tok-hub.jsonl")));

        string converted = bed.Dir.File("converted");
        var convert = Cli("convert", "--model", ModelId, "--revision", HubTestBed.Commit1, "--output", converted);
        Assert.True(convert.Code == 0, convert.Stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(tokenizerDir, "tokenizer.json")), File.ReadAllBytes(Path.Combine(converted, "tokenizer.json")));
        var (inputs, _) = Models.ParityTests.ReadInputs(golden);
        Assert.Equal(AutoModelForSequenceClassification.FromPretrained(golden).Forward(inputs).Logits.ToArray(),
            AutoModelForSequenceClassification.FromPretrained(converted).Forward(inputs).Logits.ToArray());
    }

    [SkippableFact]
    public void DatasetInfoAndHeadTakeAHubDatasetId()
    {
        string dir = SharedData.Require("datasets/angry_tweets_da");
        using var bed = new HubTestBed();
        bed.Hub.AddRepo(RepoType.Dataset, "DDSC/angry-tweets", HubTestBed.Commit2, new Dictionary<string, FakeHub.FakeFile>
        {
            ["data/train-00000-of-00001.parquet"] = new(File.ReadAllBytes(Path.Combine(dir, "train-00000-of-00001.parquet")), Lfs: true),
            ["data/test-00000-of-00001.parquet"] = new(File.ReadAllBytes(Path.Combine(dir, "test-00000-of-00001.parquet")), Lfs: true),
        });
        using var _ = HubSettings.Use(bed.Settings());
        foreach (string[] command in new[] { new[] { "info", "--json" }, new[] { "head", "--split", "test", "-n", "3" } })
        {
            var fromHub = Cli(["dataset", command[0], "DDSC/angry-tweets", "--revision", "main", .. command[1..]]);
            var fromFolder = Cli(["dataset", command[0], dir, .. command[1..]]);
            Assert.True(fromHub.Code == 0, fromHub.Stderr);
            Assert.True(fromFolder.Code == 0, fromFolder.Stderr);
            Assert.Equal(fromFolder.Stdout, fromHub.Stdout);
            Assert.NotEmpty(fromHub.Stdout.Trim());
        }
    }

    [Fact]
    public void AMissingHubModelIsOneLineAndTheNotFoundExitCode()
    {
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings(offline: true));
        string input = bed.Dir.File("in.jsonl");
        File.WriteAllText(input, "{\"text\": \"hello\"}\n");
        foreach (string command in new[] { "predict", "tokenize" })
        {
            var (code, _, err) = Cli(command, "--model", "org/absent", "--input", input, "--output", bed.Dir.File("out.jsonl"));
            Assert.Equal(4, code);
            Assert.StartsWith("error: ", err);
            Assert.Contains("'org/absent'", err);
            Assert.Single(err.Trim().Split('\n'));
        }
        Assert.Empty(bed.Hub.Requests);
    }
}
