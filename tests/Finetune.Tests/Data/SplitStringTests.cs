using Finetune.Data;

namespace Finetune.Tests.Data;

/// <summary>Split strings as `datasets`' ReadInstruction reads them, worked by hand.</summary>
public class SplitStringTests
{
    private static int[] Ids(TempDir t, int rows, string split)
    {
        string path = t.File($"rows{rows}.csv");
        if (!File.Exists(path)) File.WriteAllLines(path, new[] { "id" }.Concat(Enumerable.Range(0, rows).Select(i => i.ToString())));
        return LoadDataset.Load(path, null, split).GetInts("id");
    }

    [Fact]
    public void PercentBoundariesRoundToTheClosestRowHalfToEven()
    {
        using var t = new TempDir();
        Assert.Equal(new[] { 0, 1, 2 }, Ids(t, 10, "train[:33%]"));                   // 3.3 -> 3
        Assert.Equal(Enumerable.Range(2, 8), Ids(t, 10, "train[25%:]"));              // 2.5 -> 2 (half to even)
        Assert.Equal(Enumerable.Range(2, 8), Ids(t, 10, "train[15%:]"));              // 1.5 -> 2
        Assert.Equal(new[] { 8, 9 }, Ids(t, 10, "train[-20%:]"));
        Assert.Equal(new[] { 8, 9 }, Ids(t, 10, "train[80%:]"));
        Assert.Equal(Enumerable.Range(3, 4), Ids(t, 10, "train[3:7]"));
        Assert.Equal(Enumerable.Range(0, 10).Concat(new[] { 0, 1 }), Ids(t, 10, "train+train[:2]"));
    }

    [Fact]
    public void OnePercentSignMakesBothBoundariesPercent()
    {
        using var t = new TempDir();
        // datasets: unit = "%" if from_pct or to_pct, so "2" is 2% of 10 rows = 0 rows, not row 2.
        Assert.Equal(Enumerable.Range(0, 5), Ids(t, 10, "train[2:50%]"));
    }

    [Fact]
    public void Pct1DropRemainderTakesWhole1PercentBlocks()
    {
        using var t = new TempDir();
        Assert.Equal(82, Ids(t, 250, "train[:33%]").Length);                       // round(82.5) = 82
        Assert.Equal(66, Ids(t, 250, "train[:33%](pct1_dropremainder)").Length);   // 33 * trunc(2.5)
        var e = Assert.Throws<FinetuneException>(() => Ids(t, 10, "train[:33%](pct1_dropremainder)"));
        Assert.Contains("fewer than 100 rows", e.Message);
        e = Assert.Throws<FinetuneException>(() => Ids(t, 10, "train[:3](closest)"));
        Assert.Contains("percent", e.Message);
    }
}
