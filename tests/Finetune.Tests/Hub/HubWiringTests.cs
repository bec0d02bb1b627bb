using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Finetune.Data;
using Finetune.Hub;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tests.Models;
using Finetune.Tokenizers;
using Finetune.Cli.Recipes;
using Finetune.Training;
using Finetune.Weights;

namespace Finetune.Tests.Hub;

/// <summary>
/// A Hub id works wherever a model or dataset is named, as in transformers/datasets: <c>FromPretrained("org/name")</c>
/// and <c>LoadDataset.Load("org/name")</c> fetch from the (fake) Hub into the cache, give what the original files give,
/// load again offline from the cache, and fail with a sentence naming the repository and file when neither works.
/// Settings reach the library through <see cref="HubSettings.Use"/>, never through the process environment.
/// </summary>
public class HubWiringTests
{
    private const string ModelId = "org/bert-cls";
    private const string DatasetId = "DDSC/angry-tweets";

    private static Dictionary<string, FakeHub.FakeFile> ModelRepoFiles(string modelDir, string tokenizerDir)
    {
        var files = new Dictionary<string, FakeHub.FakeFile>
        {
            ["README.md"] = FakeHub.Git("# bert-cls\n"),
            ["config.json"] = new(File.ReadAllBytes(Path.Combine(modelDir, "config.json")), Lfs: false),
            ["model.safetensors"] = new(File.ReadAllBytes(Path.Combine(modelDir, "model.safetensors")), Lfs: true),
        };
        foreach (string f in Directory.EnumerateFiles(tokenizerDir))
            files[Path.GetFileName(f)] = new(File.ReadAllBytes(f), Lfs: false);
        return files;
    }

    private static float[] Logits(SequenceClassificationModel model, string goldenDir)
    {
        var (inputs, _) = ParityTests.ReadInputs(goldenDir);
        return model.Forward(inputs).Logits.ToArray();
    }

    [SkippableFact]
    public void ModelAndTokenizerFromAHubIdEqualTheLocalFilesAndLoadOfflineFromTheCache()
    {
        string golden = SharedData.Require("golden/models/bert");
        string tokenizerDir = SharedData.Require("models/bert-base-uncased");
        string goldenIds = SharedData.Require("golden/tokenizers/bert-base-uncased.jsonl");
        using var bed = new HubTestBed();
        bed.Hub.AddRepo(RepoType.Model, ModelId, HubTestBed.Commit1, ModelRepoFiles(golden, tokenizerDir));

        float[] direct = Logits(AutoModelForSequenceClassification.FromPretrained(golden), golden);
        using var line = JsonDocument.Parse(File.ReadLines(goldenIds).First());
        string text = line.RootElement.GetProperty("text").GetString()!;
        int[] expectedIds = line.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        using (HubSettings.Use(bed.Settings()))
        {
            var model = AutoModelForSequenceClassification.FromPretrained(ModelId);
            Assert.Equal(direct, Logits(model, golden));
            // transformers' model loading fetches the config and the weights only.
            Assert.Equal(0, bed.Hub.Count("HEAD", "/vocab.txt"));
            var tok = AutoTokenizer.FromPretrained(ModelId);
            Assert.Equal(expectedIds, tok.Encode(text)[0].InputIds);
        }
        using var outputs = SafeTensors.Read(Path.Combine(golden, "outputs.safetensors"));
        Close.Elementwise("logits of the Hub-loaded model", outputs.ReadFloat("logits"), direct, 1e-5, 1e-4);

        string snapshot = Path.Combine(bed.Cache, "models--org--bert-cls", "snapshots", HubTestBed.Commit1);
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(snapshot, "tokenizer.json")));

        bed.Hub.ClearLog();
        using (HubSettings.Use(bed.Settings(offline: true)))
        {
            Assert.Equal(direct, Logits(AutoModelForSequenceClassification.FromPretrained(ModelId, numLabels: null), golden));
            Assert.Equal(expectedIds, AutoTokenizer.FromPretrained(ModelId).Encode(text)[0].InputIds);
            var encoder = AutoModel.FromPretrained(ModelId);
            Assert.Equal("bert", encoder.Config.ModelType);
        }
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void AConfigLoadsAtARevisionAndFetchesNothingElse()
    {
        using var bed = new HubTestBed();
        var repo = bed.AddTinyBert();
        var v2 = HubTestBed.TinyBertFiles();
        v2["config.json"] = FakeHub.Git("{\"model_type\": \"bert\", \"hidden_size\": 64, \"num_attention_heads\": 4}\n");
        repo.Commits[HubTestBed.Commit2] = v2;
        repo.Refs["v2"] = HubTestBed.Commit2;

        using var _ = HubSettings.Use(bed.Settings());
        var main = Assert.IsType<BertConfig>(AutoConfig.FromPretrained("org/tiny-bert"));
        var tagged = Assert.IsType<BertConfig>(AutoConfig.FromPretrained("org/tiny-bert", revision: "v2"));
        Assert.Equal(32, main.HiddenSize);
        Assert.Equal(64, tagged.HiddenSize);
        Assert.Equal(0, bed.Hub.Count("GET", "/cdn/"));
        Assert.Equal(0, bed.Hub.Count("HEAD", "model.safetensors"));
        Assert.Equal(HubTestBed.Commit2, File.ReadAllText(Path.Combine(bed.Cache, "models--org--tiny-bert", "refs", "v2")));
    }

    [SkippableFact]
    public void AHubDatasetIdLoadsItsParquetSplitsAndLoadsOfflineFromTheCache()
    {
        string dir = SharedData.Require("datasets/angry_tweets_da");
        using var bed = new HubTestBed();
        bed.Hub.AddRepo(RepoType.Dataset, DatasetId, HubTestBed.Commit2, new Dictionary<string, FakeHub.FakeFile>
        {
            ["README.md"] = FakeHub.Git("# angry tweets\n"),
            ["data/train-00000-of-00001.parquet"] = new(File.ReadAllBytes(Path.Combine(dir, "train-00000-of-00001.parquet")), Lfs: true),
            ["data/test-00000-of-00001.parquet"] = new(File.ReadAllBytes(Path.Combine(dir, "test-00000-of-00001.parquet")), Lfs: true),
        });

        void Check(DatasetDict dict)
        {
            Assert.Equal(["train", "test"], dict.Keys);
            foreach (string split in dict.Keys)
            {
                var expected = LoadDataset.LoadFile(Path.Combine(dir, split + "-00000-of-00001.parquet"));
                Assert.True(expected.NumRows > 100);
                Assert.Equal(expected.NumRows, dict[split].NumRows);
                Assert.Equal(expected.ColumnNames, dict[split].ColumnNames);
                foreach (string column in expected.ColumnNames.Where(c => expected.GetColumn(c).DType == global::Finetune.Data.DType.String))
                    Assert.Equal(expected.GetStrings(column), dict[split].GetStrings(column));
            }
        }

        using (HubSettings.Use(bed.Settings()))
        {
            Check(LoadDataset.Load(DatasetId));
            Assert.Equal(100, LoadDataset.Load(DatasetId, null, "test[:100]").NumRows);
        }
        bed.Hub.ClearLog();
        using (HubSettings.Use(bed.Settings(offline: true))) Check(LoadDataset.Load(DatasetId));
        Assert.Empty(bed.Hub.Requests);
    }

    [SkippableFact]
    public void TheRecipeTakesAHubModelIdAndItsTokenizerWithoutATokenizerOption()
    {
        string config = SharedData.Require("models/bert-tiny");
        string tokenizerDir = SharedData.Require("models/bert-base-uncased");
        string data = SharedData.Require("datasets");
        using var bed = new HubTestBed();
        var files = new Dictionary<string, FakeHub.FakeFile> { ["config.json"] = new(File.ReadAllBytes(Path.Combine(config, "config.json")), Lfs: false) };
        foreach (string f in Directory.EnumerateFiles(tokenizerDir))
            files[Path.GetFileName(f)] = new(File.ReadAllBytes(f), Lfs: false);
        bed.Hub.AddRepo(RepoType.Model, "org/bert-tiny", HubTestBed.Commit1, files);

        RecipeResult Run(string model, string? tokenizer) => FineTuneRecipe.Run(new RecipeOptions
        {
            Model = model,
            Tokenizer = tokenizer,
            FromScratch = true,
            ZeroShot = true,
            Dataset = "rotten_tomatoes",
            DataRoot = data,
            MaxTrainSamples = 8,
            MaxEvalSamples = 16,
            MaxLength = 32,
            Args = new TrainingArguments { OutputDir = bed.Dir.File("run"), Seed = 7, DisableTqdm = true },
        }, writeOutputs: false);

        var local = Run(Path.Combine(config, "config.json"), tokenizerDir);
        using var _ = HubSettings.Use(bed.Settings());
        var hub = Run("org/bert-tiny", null);
        Assert.Equal(16, hub.EvalSamples);
        foreach (string key in new[] { "test_loss", "test_accuracy", "test_f1" })
            Assert.Equal(local.TestMetrics[key], hub.TestMetrics[key]);
        Assert.True(bed.Hub.Count("HEAD", "/vocab.txt") > 0);
    }

    [Fact]
    public void OfflineWithNothingCachedNamesTheRepositoryAndTheMissingFile()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using var _ = HubSettings.Use(bed.Settings(offline: true));

        var model = Assert.ThrowsAny<FinetuneException>(() => AutoModelForSequenceClassification.FromPretrained("org/tiny-bert"));
        Assert.Equal(ErrorKind.NotFound, model.Kind);
        Assert.Contains("'config.json' of model 'org/tiny-bert' at revision 'main'", model.Message);
        Assert.Contains("HF_HUB_OFFLINE", model.Message);

        var tok = Assert.ThrowsAny<FinetuneException>(() => AutoTokenizer.FromPretrained("org/tiny-bert"));
        Assert.Equal(ErrorKind.NotFound, tok.Kind);
        Assert.Contains("tokenizer files of model 'org/tiny-bert' at revision 'main'", tok.Message);
        Assert.Contains("HF_HUB_OFFLINE", tok.Message);

        var data = Assert.ThrowsAny<FinetuneException>(() => LoadDataset.Load("org/tweets"));
        Assert.Equal(ErrorKind.NotFound, data.Kind);
        Assert.Contains("Dataset 'org/tweets'", data.Message);
        Assert.Contains("HF_HUB_OFFLINE", data.Message);
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void OfflineWithOnlyTheConfigCachedNamesTheMissingWeights()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using (HubSettings.Use(bed.Settings())) AutoConfig.FromPretrained("org/tiny-bert");
        using var _ = HubSettings.Use(bed.Settings(offline: true));
        Assert.Equal(32, Assert.IsType<BertConfig>(AutoConfig.FromPretrained("org/tiny-bert")).HiddenSize);
        var e = Assert.ThrowsAny<FinetuneException>(() => AutoModel.FromPretrained("org/tiny-bert"));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("none of the weight files of model 'org/tiny-bert' at revision 'main' (model.safetensors,", e.Message);
        Assert.Contains("HF_HUB_OFFLINE", e.Message);
    }

    [Fact]
    public void AnUnreachableHubIsANetworkErrorNamingTheFile()
    {
        // A port bound but never listening refuses connections, and no other test can take it meanwhile.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int closedPort = ((IPEndPoint)closed.LocalEndPoint!).Port;
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings() with { Endpoint = $"http://127.0.0.1:{closedPort}" });

        var model = Assert.ThrowsAny<FinetuneException>(() => AutoConfig.FromPretrained("org/tiny-bert"));
        Assert.Equal(ErrorKind.Network, model.Kind);
        Assert.Contains("'config.json' of model 'org/tiny-bert'", model.Message);
        var tok = Assert.ThrowsAny<FinetuneException>(() => AutoTokenizer.FromPretrained("org/tiny-bert"));
        Assert.Equal(ErrorKind.Network, tok.Kind);
        Assert.Contains("tokenizer files of model 'org/tiny-bert'", tok.Message);
    }

    [Fact]
    public void APathThatDoesNotExistIsNotFoundWithoutAskingTheHub()
    {
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings());
        string missing = Path.Combine(bed.Dir.Path, "no-such-model");

        var model = Assert.ThrowsAny<FinetuneException>(() => AutoModelForSequenceClassification.FromPretrained(missing));
        Assert.Equal(ErrorKind.NotFound, model.Kind);
        Assert.Contains(missing, model.Message);
        var tok = Assert.ThrowsAny<FinetuneException>(() => AutoTokenizer.FromPretrained(missing));
        Assert.Equal(ErrorKind.NotFound, tok.Kind);
        var data = Assert.ThrowsAny<FinetuneException>(() => LoadDataset.Load(missing));
        Assert.Equal(ErrorKind.NotFound, data.Kind);
        Assert.Empty(bed.Hub.Requests);
    }
}
