using Finetune.Hub;

namespace Finetune.Tests.Hub;

public class HubErrorTests
{
    [Fact]
    public void AMissingFileIsEntryNotFoundAndIsRememberedUnderNoExist()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using var client = bed.Client();

        var e = Assert.Throws<HubException>(() => client.Download("org/tiny-bert", "pytorch_model.bin"));
        Assert.Equal((HubErrorCode.EntryNotFound, ErrorKind.NotFound, 404), (e.Code, e.Kind, e.HttpStatus));
        Assert.Contains("'pytorch_model.bin'", e.Message);
        Assert.Contains("'org/tiny-bert'", e.Message);
        Assert.True(File.Exists(Path.Combine(bed.Cache, "models--org--tiny-bert", ".no_exist", HubTestBed.Commit1, "pytorch_model.bin")));
        Assert.Equal(HubTestBed.Commit1, File.ReadAllText(Path.Combine(bed.Cache, "models--org--tiny-bert", "refs", "main")));
        Assert.True(client.IsKnownMissing("org/tiny-bert", "pytorch_model.bin"));
    }

    [Fact]
    public void AMissingRepositoryIsRepoNotFoundNotAMissingFile()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using var client = bed.Client();

        var e = Assert.Throws<HubException>(() => client.Download("org/no-such-model", "config.json"));
        Assert.Equal((HubErrorCode.RepoNotFound, ErrorKind.NotFound), (e.Code, e.Kind));
        Assert.Contains("'org/no-such-model' was not found", e.Message);
        Assert.False(Directory.Exists(Path.Combine(bed.Cache, "models--org--no-such-model", ".no_exist")));

        var model = Assert.Throws<HubException>(() => client.ResolveModel("org/no-such-model"));
        Assert.Equal(HubErrorCode.RepoNotFound, model.Code);

        // A dataset asked for as a model is not found either: the type is part of the address.
        var ds = Assert.Throws<HubException>(() => client.ResolveDataset("org/tiny-bert"));
        Assert.Equal(HubErrorCode.RepoNotFound, ds.Code);
    }

    [Fact]
    public void APlainMirrorsBare404IsAnAbsentOptionalFileAndAnHttpErrorOtherwise()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.PlainNotFound = true;
        using var client = bed.Client();

        string folder = client.ResolveModel("org/tiny-bert");
        Assert.True(File.Exists(Path.Combine(folder, "vocab.txt")));
        Assert.False(Directory.Exists(Path.Combine(bed.Cache, "models--org--tiny-bert", ".no_exist")));
        var e = Assert.Throws<HubException>(() => client.Download("org/tiny-bert", "pytorch_model.bin"));
        Assert.Equal((HubErrorCode.Http, 404), (e.Code, e.HttpStatus));
        Assert.Contains("/org/tiny-bert/resolve/main/pytorch_model.bin", e.Message);
    }

    [Fact]
    public void AnUnknownRevisionIsRevisionNotFound()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using var client = bed.Client();

        var e = Assert.Throws<HubException>(() => client.ResolveModel("org/tiny-bert", "no-such-branch"));
        Assert.Equal((HubErrorCode.RevisionNotFound, ErrorKind.NotFound), (e.Code, e.Kind));
        Assert.Contains("'no-such-branch'", e.Message);
    }

    [Fact]
    public void AModelWithoutWeightsSaysWhichFilesItLookedFor()
    {
        using var bed = new HubTestBed();
        bed.Hub.AddRepo(RepoType.Model, "org/config-only", HubTestBed.Commit1, new Dictionary<string, FakeHub.FakeFile> { ["config.json"] = FakeHub.Git("{}") });
        using var client = bed.Client();
        var e = Assert.Throws<HubException>(() => client.ResolveModel("org/config-only"));
        Assert.Equal(HubErrorCode.EntryNotFound, e.Code);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("pytorch_model.bin", e.Message);
    }

    [Fact]
    public void ShardedWeightsAreFetchedThroughTheirIndex()
    {
        using var bed = new HubTestBed();
        byte[] shard1 = [1, 2, 3, 4], shard2 = [5, 6, 7];
        bed.Hub.AddRepo(RepoType.Model, "org/sharded", HubTestBed.Commit1, new Dictionary<string, FakeHub.FakeFile>
        {
            ["config.json"] = FakeHub.Git("{}"),
            ["model.safetensors.index.json"] = FakeHub.Git("{\"metadata\": {}, \"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", \"b.weight\": \"model-00002-of-00002.safetensors\", \"c.bias\": \"model-00001-of-00002.safetensors\"}}"),
            ["model-00001-of-00002.safetensors"] = FakeHub.Lfs(shard1),
            ["model-00002-of-00002.safetensors"] = FakeHub.Lfs(shard2),
        });
        using var client = bed.Client();
        string folder = client.ResolveModel("org/sharded");
        Assert.Equal(shard1, File.ReadAllBytes(Path.Combine(folder, "model-00001-of-00002.safetensors")));
        Assert.Equal(shard2, File.ReadAllBytes(Path.Combine(folder, "model-00002-of-00002.safetensors")));
        Assert.True(File.Exists(Path.Combine(bed.Cache, "models--org--sharded", ".no_exist", HubTestBed.Commit1, "model.safetensors")));
    }

    [Fact]
    public void APrivateRepositoryNeedsItsTokenAndABadTokenIsSaidToBeRejected()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert("org/private").PrivateToken = "hf_secret";

        using (var anonymous = bed.Client())
        {
            var e = Assert.Throws<HubException>(() => anonymous.Download("org/private", "config.json"));
            Assert.Equal((HubErrorCode.RepoNotFound, 401), (e.Code, e.HttpStatus));
            Assert.Contains("HF_TOKEN", e.Message);
        }
        Assert.All(bed.Hub.Requests, r => Assert.Null(r.Authorization));

        using (var wrong = bed.Client(token: "hf_wrong"))
        {
            var e = Assert.Throws<HubException>(() => wrong.Download("org/private", "config.json"));
            Assert.Equal((HubErrorCode.Unauthorized, ErrorKind.Network, 401), (e.Code, e.Kind, e.HttpStatus));
            Assert.Contains("rejected the token", e.Message);
        }

        bed.Hub.ClearLog();
        using (var owner = bed.Client(token: "hf_secret"))
            Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(owner.Download("org/private", "config.json")));
        Assert.All(bed.Hub.Requests, r => Assert.Equal("Bearer hf_secret", r.Authorization));
    }

    [Fact]
    public void AGatedRepositoryIsReportedAsGatedWithAndWithoutAToken()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert("org/gated").GatedToken = "hf_accepted";

        using (var anonymous = bed.Client())
        {
            var e = Assert.Throws<HubException>(() => anonymous.ResolveModel("org/gated"));
            Assert.Equal((HubErrorCode.GatedRepo, 401), (e.Code, e.HttpStatus));
            Assert.Contains("is gated", e.Message);
            Assert.Contains("HF_TOKEN", e.Message);
        }
        using (var other = bed.Client(token: "hf_not_accepted"))
        {
            var e = Assert.Throws<HubException>(() => other.ResolveModel("org/gated"));
            Assert.Equal((HubErrorCode.GatedRepo, 403), (e.Code, e.HttpStatus));
        }
        using (var accepted = bed.Client(token: "hf_accepted"))
            Assert.True(File.Exists(Path.Combine(accepted.ResolveModel("org/gated"), "model.safetensors")));
    }

    [Fact]
    public void AnInvalidNameIsNeitherAFolderNorARepoId()
    {
        using var bed = new HubTestBed();
        using var client = bed.Client();
        var e = Assert.Throws<FinetuneException>(() => client.ResolveModel("no/such/local/folder"));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("neither a local folder nor a valid Hub model id", e.Message);
        Assert.Empty(bed.Hub.Requests);
    }
}
