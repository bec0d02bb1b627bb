using System.Text.Json;
using Finetune.Data;
using Finetune.Hub;
using Finetune.Models;
using Finetune.Tokenizers;
using Finetune.Weights;

namespace Finetune.Tests.Hub;

/// <summary>
/// The library's loaders read a Hub snapshot (a folder of relative links into blobs/) exactly as a plain folder:
/// a trained checkpoint and a real tokenizer are served by the fake Hub, resolved, loaded, and compared with the
/// Python reference files they came from.
/// </summary>
public class HubIntegrationTests
{
    [SkippableFact]
    public void AModelAndTokenizerLoadFromTheSnapshotTheHubResolved()
    {
        string final = SharedData.Require("golden/training/bs16_e2/final");
        string tokenizer = SharedData.Require("models/bert-base-uncased");
        string goldenIds = SharedData.Require("golden/tokenizers/bert-base-uncased.jsonl");

        var files = new Dictionary<string, FakeHub.FakeFile>
        {
            ["config.json"] = new(File.ReadAllBytes(Path.Combine(final, "config.json")), Lfs: false),
            ["model.safetensors"] = new(File.ReadAllBytes(Path.Combine(final, "model.safetensors")), Lfs: true),
        };
        foreach (string f in Directory.EnumerateFiles(tokenizer))
            files[Path.GetFileName(f)] = new(File.ReadAllBytes(f), Lfs: false);
        using var bed = new HubTestBed();
        bed.Hub.AddRepo(RepoType.Model, "org/finetuned-bert", HubTestBed.Commit1, files);
        using var client = bed.Client();

        string folder = client.ResolveModel("org/finetuned-bert");
        Assert.NotNull(new FileInfo(Path.Combine(folder, "model.safetensors")).LinkTarget);

        var model = AutoModelForSequenceClassification.FromPretrained(folder);
        using var reference = SafeTensors.Read(Path.Combine(final, "model.safetensors"));
        int compared = 0;
        foreach (var (name, value) in model.NamedParameters())
        {
            if (!reference.Contains(name)) continue;
            var expected = new float[value.Span.Length];
            reference.CopyTo(name, expected);
            Assert.Equal(expected, value.Span.ToArray());
            compared++;
        }
        Assert.True(compared > 10, $"only {compared} parameters matched checkpoint names");

        var tok = AutoTokenizer.FromPretrained(folder);
        using var line = JsonDocument.Parse(File.ReadLines(goldenIds).First());
        string text = line.RootElement.GetProperty("text").GetString()!;
        int[] ids = line.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(ids, tok.Encode(text)[0].InputIds);
    }

    [SkippableFact]
    public void HubParquetFilesLoadFromTheSnapshotWithTheirSplits()
    {
        string dir = SharedData.Require("datasets/angry_tweets_da");
        var files = new Dictionary<string, FakeHub.FakeFile>
        {
            ["README.md"] = FakeHub.Git("# angry tweets\n"),
            ["data/train-00000-of-00001.parquet"] = new(File.ReadAllBytes(Path.Combine(dir, "train-00000-of-00001.parquet")), Lfs: true),
            ["data/test-00000-of-00001.parquet"] = new(File.ReadAllBytes(Path.Combine(dir, "test-00000-of-00001.parquet")), Lfs: true),
        };
        using var bed = new HubTestBed();
        bed.Hub.AddRepo(RepoType.Dataset, "DDSC/angry-tweets", HubTestBed.Commit2, files);
        using var client = bed.Client();

        var hub = client.ResolveDataset("DDSC/angry-tweets");
        Assert.Equal(["train", "test"], hub.Splits.Keys);
        var loaded = LoadDataset.Load("parquet", options: new LoadOptions { DataFiles = hub.LocalSplits });
        foreach (string split in new[] { "train", "test" })
        {
            var direct = LoadDataset.LoadFile(Path.Combine(dir, split + "-00000-of-00001.parquet"));
            Assert.Equal(direct.NumRows, loaded[split].NumRows);
            Assert.Equal(direct.Features.Names, loaded[split].Features.Names);
            Assert.True(direct.NumRows > 100);
        }
    }
}
