using System.Collections;
using Finetune.Data;
using Finetune.Data.Parquet;
using Finetune.Hub;

namespace Finetune.Tests.Hub;

/// <summary>
/// A known dataset name whose files are not under the data root is read from the Hub's Parquet export
/// (refs/convert/parquet, {config}/{split}/0000.parquet) through the cache, as tutorial (b) does with yelp_review_full.
/// </summary>
public class KnownDatasetFallbackTests
{
    private static byte[] Parquet(string[] texts, long[] labels)
    {
        var ds = Dataset.FromDict(new Dictionary<string, IList> { ["label"] = labels, ["text"] = texts },
            new Features { { "label", new ClassLabel(["1 star", "2 star", "3 stars", "4 stars", "5 stars"]) }, { "text", Value.String } });
        using var ms = new MemoryStream();
        ParquetWriter.Write(ds, ms);
        return ms.ToArray();
    }

    private static void AddYelp(HubTestBed bed)
    {
        var repo = bed.Hub.AddRepo(RepoType.Dataset, "Yelp/yelp_review_full", HubTestBed.Commit1, new Dictionary<string, FakeHub.FakeFile>
        {
            ["README.md"] = FakeHub.Git("# yelp\n"),
        });
        repo.Commits[HubTestBed.ExportCommit] = new()
        {
            ["yelp_review_full/train/0000.parquet"] = FakeHub.Lfs(Parquet(["great", "awful", "fine"], [4, 0, 2])),
            ["yelp_review_full/partial-test/0000.parquet"] = FakeHub.Lfs(Parquet(["meh"], [1])),
        };
        repo.Refs[HubClient.ParquetExportRevision] = HubTestBed.ExportCommit;
    }

    [Fact]
    public void AKnownNameNotUnderTheDataRootComesFromTheParquetExport()
    {
        using var bed = new HubTestBed();
        AddYelp(bed);
        using var root = new TempDir();
        using (HubSettings.Use(bed.Settings()))
        {
            var d = LoadDataset.Load("yelp_review_full", null, new LoadOptions { DataRoot = root.Path });
            Assert.Equal(new[] { "train", "test" }, d.Keys);
            Assert.Equal(new[] { "great", "awful", "fine" }, d["train"].GetStrings("text"));
            Assert.Equal(new[] { 4, 0, 2 }, d["train"].GetInts("label"));
            Assert.Equal("5 stars", ((ClassLabel)d["train"].Features["label"]).Names[4]);
            Assert.Equal(1, d["test"].NumRows);
        }
        // Then offline from the cache, with no request.
        bed.Hub.ClearLog();
        using (HubSettings.Use(bed.Settings(offline: true)))
            Assert.Equal(3, LoadDataset.Load("yelp_review_full", null, new LoadOptions { DataRoot = root.Path })["train"].NumRows);
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void OfflineWithNothingCachedSaysWhatIsMissingAndWhereToPutIt()
    {
        using var bed = new HubTestBed();
        using var root = new TempDir();
        using var _ = HubSettings.Use(bed.Settings(offline: true));
        var e = Assert.Throws<FinetuneException>(() => LoadDataset.Load("yelp_review_full", null, new LoadOptions { DataRoot = root.Path }));
        Assert.Equal(4, e.ExitCode);
        Assert.Contains(Path.Combine(root.Path, "yelp_review_full"), e.Message);
        Assert.Contains("Yelp/yelp_review_full", e.Message);
        Assert.Contains("refs/convert/parquet", e.Message);
    }
}
