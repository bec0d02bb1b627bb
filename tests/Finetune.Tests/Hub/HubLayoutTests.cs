using Finetune.Hub;

namespace Finetune.Tests.Hub;

/// <summary>
/// The cache Finetune writes must be the one huggingface_hub writes, byte for byte in its structure, so Python finds
/// what Finetune downloaded and the other way round. The expected listing is written out by hand from
/// huggingface_hub's layout; blob names are the files' git blob ids (`git hash-object`) and sha256 sums
/// (`sha256sum`), computed outside this code.
/// </summary>
public class HubLayoutTests
{
    private const string C1 = HubTestBed.Commit1;
    private const string C2 = HubTestBed.Commit2;
    private const string EX = HubTestBed.ExportCommit;
    private const string ConfigGit = "8127d85e5b54e87b4e981904d0a6e14cb2caa3e9";
    private const string TokCfgGit = "dd43f9aa6e46e2ee4790a9d473843289557f41aa";
    private const string VocabGit = "ef724657c94f6c2193e0f6b971408a37a4c54099";
    private const string WeightsSha = "3c65ea93424a9c362fec0e3a69ea36031e8a358441479dd665cc6110eabe7b08";
    private const string TrainSha = "8fa943dd4350e870ff70d36d1809c92f7df27108383b015c966ce6fdffebd6ac";
    private const string TestSha = "50273793fb690b62ba10e6b8d3178fab35304f0382897773f6fbd70f8bcf0c6f";
    private const string DsReadmeGit = "bbd03c4c8b3c5bb9647f8cd3ad56697810ba8987";
    private const string ExportSha = "9ee12507eb7b5b4492dcd3ac06720c776df1bbedddc3cef4a8c207c0ab3d4866";

    internal static void AddDatasets(HubTestBed bed)
    {
        bed.Hub.AddRepo(RepoType.Dataset, "org/tiny-ds", C2, new Dictionary<string, FakeHub.FakeFile>
        {
            ["README.md"] = FakeHub.Git("# tiny dataset\n"),
            ["data/train-00000-of-00001.parquet"] = FakeHub.Lfs("PAR1 train split PAR1"u8.ToArray()),
            ["data/test-00000-of-00001.parquet"] = FakeHub.Lfs("PAR1 test split PAR1"u8.ToArray()),
        });
        var scripted = bed.Hub.AddRepo(RepoType.Dataset, "org/scripted", C1, new Dictionary<string, FakeHub.FakeFile>
        {
            ["README.md"] = FakeHub.Git("# scripted\n"),
            ["scripted.py"] = FakeHub.Git("import datasets\n"),
        });
        scripted.Commits[EX] = new() { ["default/train/0000.parquet"] = FakeHub.Lfs("PAR1 exported train split PAR1"u8.ToArray()) };
        scripted.Refs["refs/convert/parquet"] = EX;
    }

    [Fact]
    public void CacheTreeIsExactlyHuggingFaceHubsLayout()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        AddDatasets(bed);
        using var client = bed.Client();

        string model = client.ResolveModel("org/tiny-bert");
        var ds = client.ResolveDataset("org/tiny-ds");
        var scripted = client.ResolveDataset("org/scripted");

        string[] expected =
        [
            $".locks/datasets--org--scripted/{ExportSha}.lock",
            $".locks/datasets--org--tiny-ds/{TestSha}.lock",
            $".locks/datasets--org--tiny-ds/{TrainSha}.lock",
            $".locks/datasets--org--tiny-ds/{DsReadmeGit}.lock",
            $".locks/models--org--tiny-bert/{WeightsSha}.lock",
            $".locks/models--org--tiny-bert/{ConfigGit}.lock",
            $".locks/models--org--tiny-bert/{TokCfgGit}.lock",
            $".locks/models--org--tiny-bert/{VocabGit}.lock",
            $"datasets--org--scripted/blobs/{ExportSha}",
            $"datasets--org--scripted/refs/refs/convert/parquet = {EX}",
            $"datasets--org--scripted/snapshots/{EX}/default/train/0000.parquet -> ../../../../blobs/{ExportSha}",
            $"datasets--org--tiny-ds/blobs/{TestSha}",
            $"datasets--org--tiny-ds/blobs/{TrainSha}",
            $"datasets--org--tiny-ds/blobs/{DsReadmeGit}",
            $"datasets--org--tiny-ds/refs/main = {C2}",
            $"datasets--org--tiny-ds/snapshots/{C2}/README.md -> ../../blobs/{DsReadmeGit}",
            $"datasets--org--tiny-ds/snapshots/{C2}/data/test-00000-of-00001.parquet -> ../../../blobs/{TestSha}",
            $"datasets--org--tiny-ds/snapshots/{C2}/data/train-00000-of-00001.parquet -> ../../../blobs/{TrainSha}",
            $"models--org--tiny-bert/.no_exist/{C1}/added_tokens.json",
            $"models--org--tiny-bert/.no_exist/{C1}/merges.txt",
            $"models--org--tiny-bert/.no_exist/{C1}/sentencepiece.bpe.model",
            $"models--org--tiny-bert/.no_exist/{C1}/special_tokens_map.json",
            $"models--org--tiny-bert/.no_exist/{C1}/spiece.model",
            $"models--org--tiny-bert/.no_exist/{C1}/tokenizer.json",
            $"models--org--tiny-bert/.no_exist/{C1}/vocab.json",
            $"models--org--tiny-bert/blobs/{WeightsSha}",
            $"models--org--tiny-bert/blobs/{ConfigGit}",
            $"models--org--tiny-bert/blobs/{TokCfgGit}",
            $"models--org--tiny-bert/blobs/{VocabGit}",
            $"models--org--tiny-bert/refs/main = {C1}",
            $"models--org--tiny-bert/snapshots/{C1}/config.json -> ../../blobs/{ConfigGit}",
            $"models--org--tiny-bert/snapshots/{C1}/model.safetensors -> ../../blobs/{WeightsSha}",
            $"models--org--tiny-bert/snapshots/{C1}/tokenizer_config.json -> ../../blobs/{TokCfgGit}",
            $"models--org--tiny-bert/snapshots/{C1}/vocab.txt -> ../../blobs/{VocabGit}",
        ];
        Assert.Equal(expected, Tree(bed.Cache));

        Assert.Equal(Path.Combine(bed.Cache, "models--org--tiny-bert", "snapshots", C1), model);
        Assert.Equal(Path.Combine(bed.Cache, "datasets--org--tiny-ds", "snapshots", C2), ds.Folder);
        Assert.Equal(["train", "test"], ds.Splits.Keys);
        Assert.Equal(["data/train-00000-of-00001.parquet"], ds.Splits["train"]);
        Assert.Equal(["data/test-00000-of-00001.parquet"], ds.Splits["test"]);
        Assert.Equal(HubClient.ParquetExportRevision, scripted.Revision);
        Assert.Equal("default", scripted.Config);
        Assert.Equal(["train"], scripted.Splits.Keys);
        Assert.Equal(["default/train/0000.parquet"], scripted.Files);
        // Blobs hold the content, refs have no trailing newline, .no_exist markers are empty.
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(Path.Combine(model, "model.safetensors")));
        Assert.Equal(HubTestBed.ConfigText, File.ReadAllText(Path.Combine(model, "config.json")));
        Assert.Equal(C1, File.ReadAllText(Path.Combine(bed.Cache, "models--org--tiny-bert", "refs", "main")));
        Assert.Equal(0, new FileInfo(Path.Combine(bed.Cache, "models--org--tiny-bert", ".no_exist", C1, "tokenizer.json")).Length);
        Assert.Equal("PAR1 train split PAR1", File.ReadAllText(ds.LocalSplits["train"][0]));
    }

    [Fact]
    public void RepoFolderNamesFollowHuggingFaceHub()
    {
        Assert.Equal("models--bert-base-uncased", CacheLayout.RepoFolderName("bert-base-uncased", RepoType.Model));
        Assert.Equal("models--google--electra-small-discriminator", CacheLayout.RepoFolderName("google/electra-small-discriminator", RepoType.Model));
        Assert.Equal("datasets--stanfordnlp--imdb", CacheLayout.RepoFolderName("stanfordnlp/imdb", RepoType.Dataset));
        Assert.Equal("spaces--org--demo", CacheLayout.RepoFolderName("org/demo", RepoType.Space));
    }

    [Theory]
    [InlineData("\"abc123\"", "abc123")]
    [InlineData("W/\"abc123\"", "abc123")]
    [InlineData("abc123", "abc123")]
    public void EtagsAreNormalisedLikePython(string header, string expected) =>
        Assert.Equal(expected, CacheLayout.NormalizeEtag(header));

    [Theory]
    [InlineData("bert-base-uncased", true)]
    [InlineData("FacebookAI/xlm-roberta-base", true)]
    [InlineData("org/name.v2_x", true)]
    [InlineData("a/b/c", false)]
    [InlineData("org--name", false)]
    [InlineData("../etc", false)]
    [InlineData("-leading", false)]
    [InlineData("with space", false)]
    public void RepoIdsAreValidatedLikeHuggingFaceHub(string id, bool valid) =>
        Assert.Equal(valid, HubClient.IsValidRepoId(id));

    /// <summary>Every non-directory entry under the cache: links as "path -> target", refs as "path = content".</summary>
    internal static string[] Tree(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Where(p => new FileInfo(p).LinkTarget != null || !Directory.Exists(p))
            .Select(p =>
            {
                string rel = Path.GetRelativePath(root, p).Replace(Path.DirectorySeparatorChar, '/');
                string? link = new FileInfo(p).LinkTarget;
                if (link != null) return $"{rel} -> {link}";
                return rel.Contains("/refs/", StringComparison.Ordinal) ? $"{rel} = {File.ReadAllText(p)}" : rel;
            })
            .Order(StringComparer.Ordinal)
            .ToArray();
}
