using Finetune.Data;
using Finetune.Data.Loading;
using Finetune.Hub;
using Finetune.Tests.Hub;

namespace Finetune.Tests.Data;

/// <summary>
/// rotten_tomatoes ships inside the library so the seed recipe runs on a fresh clone: the embedded copy is HF's
/// splits row for row (the shared hf_splits files), and it is what a load gets when neither the data root nor the
/// Hub has the dataset.
/// </summary>
public class EmbeddedRottenTomatoesTests
{
    [SkippableFact]
    public void TheEmbeddedCopyEqualsTheSharedSplitsRowForRow()
    {
        string root = SharedData.Require("datasets");
        var shared = LoadDataset.Load("rotten_tomatoes", options: new LoadOptions { DataRoot = root });
        var embedded = RottenTomatoesSources.Embedded();
        Assert.Equal(new[] { 8530, 1066, 1066 }, new[] { "train", "validation", "test" }.Select(s => embedded[s].NumRows));
        foreach (string split in new[] { "train", "validation", "test" })
        {
            Assert.Equal(shared[split].NumRows, embedded[split].NumRows);
            Assert.Equal(shared[split].GetStrings("text"), embedded[split].GetStrings("text"));
            Assert.Equal(shared[split].GetInts("label"), embedded[split].GetInts("label"));
            Assert.Equal(new[] { "neg", "pos" }, ((ClassLabel)embedded[split].Features["label"]).Names);
        }
    }

    [Fact]
    public void WithNoDataFolderAndAnOfflineHubTheEmbeddedCopyIsLoaded()
    {
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings(offline: true));
        var warnings = new List<string>();
        var ds = LoadDataset.Load("rotten_tomatoes", options: new LoadOptions { DataRoot = bed.Dir.File("no-datasets-here"), Warning = warnings.Add });
        Assert.Equal(8530, ds["train"].NumRows);
        Assert.Equal(1066, ds["test"].NumRows);
        // Positives come first in each split, as in HF's splits; the first row is the dataset's well-known first review.
        Assert.StartsWith("the rock is destined to be the 21st century's new", ds["train"].GetStrings("text")[0]);
        Assert.Equal(1, ds["train"].GetInts("label")[0]);
        Assert.Equal(0, ds["train"].GetInts("label")[^1]);
        Assert.Contains(warnings, w => w.Contains("embedded") && w.Contains("HF_HUB_OFFLINE"));
    }
}
