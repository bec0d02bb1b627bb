using Finetune.Data;
using Finetune.Hub;
using Finetune.Models;
using Finetune.Tests.Cli;
using Finetune.Tokenizers;

namespace Finetune.Tests.Hub;

/// <summary>
/// One name-or-path decision for every loader, in transformers' order: a local folder or file wins, a valid Hub id
/// goes through the cache and the Hub, a name that reads as a path never leaves the machine, and the rest is one
/// NotFound error (exit code 4) naming it.
/// </summary>
public class NameOrPathTests
{
    [Fact]
    public void ANameIsALocalPathAHubIdOrNeither()
    {
        using var t = new TempDir();
        File.WriteAllText(t.File("config.json"), "{}");
        Assert.Equal(NameKind.LocalFolder, NameOrPath.Classify(t.Path));
        Assert.Equal(NameKind.LocalFile, NameOrPath.Classify(t.File("config.json")));
        Assert.Equal(NameKind.MissingPath, NameOrPath.Classify(t.File("missing")));          // rooted
        Assert.Equal(NameKind.MissingPath, NameOrPath.Classify("./bert-tiny"));
        Assert.Equal(NameKind.MissingPath, NameOrPath.Classify("runs/rt/checkpoint-3"));      // two slashes: no repository id has them
        Assert.Equal(NameKind.MissingPath, NameOrPath.Classify("~/models/bert"));
        Assert.Equal(NameKind.HubId, NameOrPath.Classify("bert-base-uncased"));
        Assert.Equal(NameKind.HubId, NameOrPath.Classify("sentence-transformers/all-MiniLM-L6-v2"));
        Assert.Equal(NameKind.Invalid, NameOrPath.Classify("bert base"));
        Assert.Equal(NameKind.Invalid, NameOrPath.Classify("org--name"));
    }

    [Fact]
    public void AMistypedPathBesideItsFirstFolderIsNeverSentToTheHub()
    {
        string first = "name-or-path-probe-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(first);
        try
        {
            Assert.Equal(NameKind.HubId, NameOrPath.Classify("elsewhere-" + first + "/typo"));
            Assert.Equal(NameKind.MissingPath, NameOrPath.Classify(first + "/typo"));
        }
        finally
        {
            Directory.Delete(first);
        }
    }

    [Fact]
    public void EveryLoaderGivesTheSameNotFoundForAMissingPathWithoutAskingTheHub()
    {
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings());
        using var t = new TempDir();
        string missing = t.File("no-such-model");
        var errors = new List<FinetuneException>
        {
            Assert.ThrowsAny<FinetuneException>(() => AutoModel.FromPretrained(missing)),
            Assert.ThrowsAny<FinetuneException>(() => AutoModelForSequenceClassification.FromPretrained(missing)),
            Assert.ThrowsAny<FinetuneException>(() => AutoConfig.FromPretrained(missing)),
            Assert.ThrowsAny<FinetuneException>(() => AutoTokenizer.FromPretrained(missing)),
            Assert.ThrowsAny<FinetuneException>(() => LoadDataset.Load(missing)),
            Assert.ThrowsAny<FinetuneException>(() => Finetune.Hub.Hub.ResolveModel(missing)),
        };
        Assert.All(errors, e =>
        {
            Assert.Equal(ErrorKind.NotFound, e.Kind);
            Assert.Contains(missing, e.Message);
        });
        Assert.Equal(4, CliRunner.Run("convert", "--model", missing, "--output", t.File("out")).Code);
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void OfflineAHubIdComesFromTheCacheOnly()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using (HubSettings.Use(bed.Settings()))
            Assert.True(File.Exists(Path.Combine(NameOrPath.ResolveModel("org/tiny-bert", ModelFiles.Config), "config.json")));
        bed.Hub.ClearLog();
        using var _ = HubSettings.Use(bed.Settings(offline: true));
        Assert.True(File.Exists(Path.Combine(NameOrPath.ResolveModel("org/tiny-bert", ModelFiles.Config), "config.json")));
        var e = Assert.ThrowsAny<FinetuneException>(() => NameOrPath.ResolveModel("org/other", ModelFiles.Config));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("HF_HUB_OFFLINE", e.Message);
        Assert.Empty(bed.Hub.Requests);
    }
}
