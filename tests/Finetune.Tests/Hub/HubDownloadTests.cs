using Finetune.Hub;

namespace Finetune.Tests.Hub;

public class HubDownloadTests
{
    private const string C1 = HubTestBed.Commit1;
    private const string C2 = HubTestBed.Commit2;
    private static string WeightsSha => new FakeHub.FakeFile(HubTestBed.Weights, true).Sha256;

    [Fact]
    public void AFreshDownloadFetchesConfigWeightsAndTokenizerFilesAndReportsProgress()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using var client = bed.Client();
        var progress = new List<HubProgress>();
        client.Progress = progress.Add;

        string folder = client.ResolveModel("org/tiny-bert");

        Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(Path.Combine(folder, "config.json")));
        Assert.Equal(HubTestBed.VocabText, File.ReadAllText(Path.Combine(folder, "vocab.txt")));
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(folder, "README.md"))); // only what a model needs
        // The LFS body was fetched once from the CDN location the HEAD's redirect named.
        Assert.Equal(1, bed.Hub.Count("GET", "/cdn/" + WeightsSha));
        var weights = progress.Where(p => p.Filename == "model.safetensors").ToList();
        Assert.True(weights.Count >= 2);
        Assert.Equal((HubTestBed.Weights.Length, true), (weights[^1].BytesDownloaded, weights[^1].Done));
        Assert.All(weights, p => Assert.Equal(HubTestBed.Weights.Length, p.TotalBytes));
    }

    [Fact]
    public void ASecondRunDownloadsNothingAndByCommitOrOfflineMakesNoRequestAtAll()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        string first;
        using (var client = bed.Client()) first = client.ResolveModel("org/tiny-bert");

        // By branch: one HEAD (config.json) to learn the commit, then everything comes from the cache.
        bed.Hub.ClearLog();
        using (var client = bed.Client()) Assert.Equal(first, client.ResolveModel("org/tiny-bert", "main"));
        var only = Assert.Single(bed.Hub.Requests);
        Assert.Equal(("HEAD", "/org/tiny-bert/resolve/main/config.json"), (only.Method, only.Path));

        // By commit hash: no request at all (absent optional files are known from .no_exist).
        bed.Hub.ClearLog();
        using (var client = bed.Client()) Assert.Equal(first, client.ResolveModel("org/tiny-bert", C1));
        Assert.Empty(bed.Hub.Requests);

        // Offline: no request, same folder.
        using (var client = bed.Client(offline: true)) Assert.Equal(first, client.ResolveModel("org/tiny-bert"));
        Assert.Empty(bed.Hub.Requests);

        // Offline, a file never downloaded: the error names it.
        using (var client = bed.Client(offline: true))
        {
            var e = Assert.Throws<HubException>(() => client.Download("org/tiny-bert", "README.md"));
            Assert.Equal(HubErrorCode.OfflineMiss, e.Code);
            Assert.Equal(ErrorKind.NotFound, e.Kind);
            Assert.Contains("'README.md'", e.Message);
        }
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void ARevisionChangeFetchesOnlyChangedFilesAndKeepsTheOldSnapshot()
    {
        using var bed = new HubTestBed();
        var repo = bed.AddTinyBert();
        using var client = bed.Client();
        string old = client.ResolveModel("org/tiny-bert");

        // A new commit on main changes config.json only; the old commit stays reachable through a tag.
        var files = HubTestBed.TinyBertFiles();
        files["config.json"] = FakeHub.Git("{\"model_type\": \"bert\", \"hidden_size\": 64}\n");
        repo.Commits[C2] = files;
        repo.Refs["main"] = C2;
        repo.Refs["v1.0"] = C1;
        bed.Hub.ClearLog();

        string updated = client.ResolveModel("org/tiny-bert");
        Assert.Equal(Path.Combine(bed.Cache, "models--org--tiny-bert", "snapshots", C2), updated);
        Assert.Contains("\"hidden_size\": 64", File.ReadAllText(Path.Combine(updated, "config.json")));
        Assert.Equal(C2, File.ReadAllText(Path.Combine(bed.Cache, "models--org--tiny-bert", "refs", "main")));
        // The weights blob is shared between both snapshots: no second GET of its body.
        Assert.Equal(0, bed.Hub.Count("GET", "/cdn/"));
        Assert.Equal(new FileInfo(Path.Combine(old, "model.safetensors")).LinkTarget, new FileInfo(Path.Combine(updated, "model.safetensors")).LinkTarget);
        Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(Path.Combine(old, "config.json")));

        Assert.Equal(old, client.ResolveModel("org/tiny-bert", "v1.0"));
        Assert.Equal(C1, File.ReadAllText(Path.Combine(bed.Cache, "models--org--tiny-bert", "refs", "v1.0")));
    }

    [Fact]
    public void ABrokenConnectionIsResumedWithARangeRequest()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.BreakAfterBytes = 100_000;
        using var client = bed.Client();

        string path = client.Download("org/tiny-bert", "model.safetensors");

        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(path));
        var gets = bed.Hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Equal("bytes=100000-", gets[1].Range);
        Assert.False(File.Exists(Path.Combine(bed.Cache, "models--org--tiny-bert", "blobs", WeightsSha + ".incomplete")));
    }

    [Fact]
    public void ABodyThatEndsEarlyButCleanlyIsResumedToo()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.EndEarlyAfterBytes = 70_000;
        using var client = bed.Client();

        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(client.Download("org/tiny-bert", "model.safetensors")));
        var gets = bed.Hub.Requests.Where(r => r.Method == "GET").ToList();
        Assert.Equal([null, "bytes=70000-"], gets.Select(g => g.Range));
    }

    [Fact]
    public void AnIncompleteFileLeftByAnEarlierRunIsResumed()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        string blobs = Path.Combine(bed.Cache, "models--org--tiny-bert", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, WeightsSha + ".incomplete"), HubTestBed.Weights.AsSpan(0, 123_456).ToArray());
        using var client = bed.Client();

        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(client.Download("org/tiny-bert", "model.safetensors")));
        Assert.Equal("bytes=123456-", Assert.Single(bed.Hub.Requests, r => r.Method == "GET").Range);
    }

    [Fact]
    public void AServerIgnoringRangeMakesTheDownloadStartOver()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.IgnoreRange = true;
        string blobs = Path.Combine(bed.Cache, "models--org--tiny-bert", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, WeightsSha + ".incomplete"), HubTestBed.Weights.AsSpan(0, 1000).ToArray());
        using var client = bed.Client();

        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(client.Download("org/tiny-bert", "model.safetensors")));
        Assert.Equal("bytes=1000-", Assert.Single(bed.Hub.Requests, r => r.Method == "GET").Range);
    }

    [Fact]
    public void ACorruptDownloadIsCaughtBySha256AndLeavesNothingBehind()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.CorruptLfs = true;
        using var client = bed.Client();

        var e = Assert.Throws<HubException>(() => client.Download("org/tiny-bert", "model.safetensors"));
        Assert.Equal(HubErrorCode.ChecksumMismatch, e.Code);
        Assert.Equal(ErrorKind.Network, e.Kind);
        Assert.Contains("sha256", e.Message);
        Assert.Contains(WeightsSha, e.Message);
        string storage = Path.Combine(bed.Cache, "models--org--tiny-bert");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(storage, "blobs")));
        Assert.False(Directory.Exists(Path.Combine(storage, "snapshots", C1)) && Directory.EnumerateFileSystemEntries(Path.Combine(storage, "snapshots", C1)).Any());

        bed.Hub.CorruptLfs = false;
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(client.Download("org/tiny-bert", "model.safetensors")));
    }

    [Fact]
    public void ServerErrorsAreRetriedWithBackoffThenReported()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.FailNextWith503 = 2;
        using (var client = bed.Client())
            Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(client.Download("org/tiny-bert", "config.json")));
        Assert.Equal(3, bed.Hub.Count("HEAD", "config.json"));

        bed.Hub.FailNextWith503 = 100;
        using (var client = bed.Client())
        {
            var e = Assert.Throws<HubException>(() => client.Download("org/tiny-bert", "vocab.txt"));
            Assert.Equal((HubErrorCode.Http, 503), (e.Code, e.HttpStatus));
            Assert.Contains("503", e.Message);
        }
        bed.Hub.FailNextWith503 = 0;
    }

    [Fact]
    public void ATokenizerAloneFetchesNoWeights()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.AddRepo(RepoType.Model, "org/tokenizer-only", C2, new Dictionary<string, FakeHub.FakeFile> { ["vocab.txt"] = FakeHub.Git(HubTestBed.VocabText) });
        using var client = bed.Client();

        string folder = client.ResolveModel("org/tiny-bert", parts: ModelFiles.Tokenizer);
        Assert.Equal(HubTestBed.VocabText, File.ReadAllText(Path.Combine(folder, "vocab.txt")));
        Assert.True(File.Exists(Path.Combine(folder, "config.json")));
        Assert.False(File.Exists(Path.Combine(folder, "model.safetensors")));
        Assert.Equal(0, bed.Hub.Count("GET", "/cdn/"));

        // A repository without config.json still gives its tokenizer; asking for weights there is an error.
        string only = client.ResolveModel("org/tokenizer-only", parts: ModelFiles.Tokenizer);
        Assert.Equal(Path.Combine(bed.Cache, "models--org--tokenizer-only", "snapshots", C2), only);
        Assert.True(File.Exists(Path.Combine(only, "vocab.txt")));
        var e = Assert.Throws<HubException>(() => client.ResolveModel("org/tokenizer-only"));
        Assert.Equal(HubErrorCode.EntryNotFound, e.Code);
        Assert.Contains("'config.json'", e.Message);
    }

    [Fact]
    public void ADeletedBlobIsFetchedAgainAndItsLinkRepaired()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using var client = bed.Client();
        string path = client.Download("org/tiny-bert", "model.safetensors");
        File.Delete(Path.Combine(bed.Cache, "models--org--tiny-bert", "blobs", WeightsSha));

        Assert.Null(client.TryLoadFromCache("org/tiny-bert", "model.safetensors"));
        Assert.Equal(path, client.Download("org/tiny-bert", "model.safetensors", C1));
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(path));
        Assert.Equal(2, bed.Hub.Count("GET", "/cdn/"));
    }

    [Fact]
    public void AMirrorWithoutHeadIsAskedWithGet()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.RejectHead = true;
        using var client = bed.Client();
        string folder = client.ResolveModel("org/tiny-bert");
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(Path.Combine(folder, "config.json")));
        Assert.True(File.Exists(Path.Combine(bed.Cache, "models--org--tiny-bert", ".no_exist", C1, "tokenizer.json")));
    }

    [Fact]
    public void ARequestThatTimesOutIsRetried()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.StallNextMs = 6000;
        using var client = new HubClient(bed.Settings() with { MetadataTimeout = TimeSpan.FromMilliseconds(1500) });
        Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(client.Download("org/tiny-bert", "config.json")));
        // The stalled first request timed out and was retried. On a loaded machine a retry may itself time out,
        // so the count is at least 2 rather than exactly 2 (still within the retry budget).
        Assert.InRange(bed.Hub.Count("HEAD", "config.json"), 2, client.Settings.MaxRetries + 1);
    }

    [Fact]
    public void WithoutNetworkTheCacheServesFilesAndAMissingFileIsANetworkErrorNamingIt()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        using (var client = bed.Client()) client.ResolveModel("org/tiny-bert");

        // A port held but not listening: every connection is refused, as with no network.
        using var closed = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        closed.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var settings = bed.Settings() with { Endpoint = "http://127.0.0.1:" + ((System.Net.IPEndPoint)closed.LocalEndPoint!).Port };
        using var offline = new HubClient(settings);
        Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(offline.Download("org/tiny-bert", "config.json")));
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(Path.Combine(offline.ResolveModel("org/tiny-bert"), "model.safetensors")));
        var e = Assert.Throws<HubException>(() => offline.Download("org/tiny-bert", "README.md"));
        Assert.Equal((HubErrorCode.NoNetwork, ErrorKind.Network), (e.Code, e.Kind));
        Assert.Contains("'README.md'", e.Message);
        Assert.Contains("not in the cache", e.Message);
    }

    [Fact]
    public void AnUnresolvableHostIsANetworkErrorNamingTheFile()
    {
        using var bed = new HubTestBed();
        // ".invalid" never resolves (RFC 2606), with or without a network.
        using var client = new HubClient(bed.Settings() with { Endpoint = "http://hub.invalid" });
        var e = Assert.Throws<HubException>(() => client.ResolveModel("org/tiny-bert"));
        Assert.Equal((HubErrorCode.NoNetwork, ErrorKind.Network), (e.Code, e.Kind));
        Assert.Contains("http://hub.invalid", e.Message);
        Assert.Contains("'config.json'", e.Message);
    }

    [Fact]
    public void ADatasetIsServedFromTheCacheOffline()
    {
        using var bed = new HubTestBed();
        HubLayoutTests.AddDatasets(bed);
        HubDataset online, scripted;
        using (var client = bed.Client())
        {
            online = client.ResolveDataset("org/tiny-ds");
            scripted = client.ResolveDataset("org/scripted");
        }
        bed.Hub.ClearLog();
        using (var client = bed.Client(offline: true))
        {
            var again = client.ResolveDataset("org/tiny-ds");
            Assert.Equal((online.Folder, online.CommitHash), (again.Folder, again.CommitHash));
            Assert.Equal(online.Files, again.Files);
            var export = client.ResolveDataset("org/scripted");
            Assert.Equal((scripted.Folder, HubClient.ParquetExportRevision), (export.Folder, export.Revision));
            var e = Assert.Throws<HubException>(() => client.ResolveDataset("org/never-downloaded"));
            Assert.Equal(HubErrorCode.OfflineMiss, e.Code);
            Assert.Contains("org/never-downloaded", e.Message);
        }
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void ARenamedRepositoryIsFollowedAndCachedUnderTheRequestedName()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.Renamed["tiny-bert-legacy"] = "org/tiny-bert";
        using var client = bed.Client();

        string folder = client.ResolveModel("tiny-bert-legacy");
        Assert.Equal(Path.Combine(bed.Cache, "models--tiny-bert-legacy", "snapshots", C1), folder);
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.Contains(bed.Hub.Requests, r => r.Method == "HEAD" && r.Path == "/org/tiny-bert/resolve/main/config.json");
    }

    [Fact]
    public void ALocalFolderIsReturnedAsIs()
    {
        using var dir = new TempDir();
        using var client = new HubClient(new HubSettings { Endpoint = "http://127.0.0.1:9", CacheDir = dir.File("cache"), MaxRetries = 0 });
        Assert.Equal(dir.Path, client.ResolveModel(dir.Path));
        Assert.Equal(dir.Path, Finetune.Hub.Hub.ResolveModel(dir.Path));
    }
}
