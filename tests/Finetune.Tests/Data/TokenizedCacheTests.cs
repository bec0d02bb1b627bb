using System.Collections;
using Finetune.Data;

namespace Finetune.Tests.Data;

public class TokenizedCacheTests
{
    private static int _calls;

    /// <summary>A stand-in tokenizer: ids are character codes, truncated to maxLength.</summary>
    private static Func<Dataset, IReadOnlyDictionary<string, IList>> Tokenize(int maxLength) => batch =>
    {
        Interlocked.Increment(ref _calls);
        var ids = batch.GetStrings("text").Select(t => t!.Take(maxLength).Select(c => (int)c).ToArray()).ToArray();
        return new Dictionary<string, IList>
        {
            ["input_ids"] = ids,
            ["attention_mask"] = ids.Select(a => Enumerable.Repeat(1, a.Length).ToArray()).ToArray(),
        };
    };

    [Fact]
    public void SecondRunHitsAndAnyChangeMisses()
    {
        using var tmp = new TempDir();
        string data = tmp.File("train.csv");
        File.WriteAllText(data, "text,label\nhello world,1\n\"a, b\",0\nxyz,1\n");
        var features = new Features { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } };
        Dataset Load() => Dataset.FromFile(data, new LoadOptions { Features = features });
        var opts = new MapOptions { BatchSize = 2, RemoveColumns = ["text"] };

        var cache = new TokenizedCache(tmp.File("cache"));
        _calls = 0;
        var first = cache.Map(Load(), Tokenize(8), "tok-A", "max_length=8", opts);
        Assert.False(cache.LastWasHit);
        Assert.Equal(2, _calls);
        Assert.Equal(new[] { "label", "input_ids", "attention_mask" }, first.ColumnNames);
        Assert.Equal("hello wo".Select(c => (int)c), first.GetIntLists("input_ids")[0]!);

        // A new process would build a new cache object and reload the data: served from disk, nothing tokenized.
        var again = new TokenizedCache(tmp.File("cache"));
        _calls = 0;
        var second = again.Map(Load(), Tokenize(8), "tok-A", "max_length=8", opts);
        Assert.True(again.LastWasHit);
        Assert.Equal(0, _calls);
        Assert.Equal(first.ColumnNames, second.ColumnNames);
        for (int i = 0; i < first.NumRows; i++) Assert.Equal(first.GetIntLists("input_ids")[i], second.GetIntLists("input_ids")[i]);
        Assert.Equal(first.GetInts("label"), second.GetInts("label"));
        Assert.IsType<ClassLabel>(second.Features["label"]);

        // Different tokenizer, different arguments, a shuffled dataset or an edited file each miss.
        again.Map(Load(), Tokenize(8), "tok-B", "max_length=8", opts);
        Assert.False(again.LastWasHit);
        again.Map(Load(), Tokenize(4), "tok-A", "max_length=4", opts);
        Assert.False(again.LastWasHit);
        again.Map(Load().Shuffle(1), Tokenize(8), "tok-A", "max_length=8", opts);
        Assert.False(again.LastWasHit);
        File.AppendAllText(data, "new row,0\n");
        _calls = 0;
        var edited = again.Map(Load(), Tokenize(8), "tok-A", "max_length=8", opts);
        Assert.False(again.LastWasHit);
        Assert.Equal(4, edited.NumRows);
        Assert.Equal(2, _calls);
        // ...and the unchanged job still hits its old entry once the file is restored.
        File.WriteAllText(data, "text,label\nhello world,1\n\"a, b\",0\nxyz,1\n");
        again.Map(Load(), Tokenize(8), "tok-A", "max_length=8", opts);
        Assert.True(again.LastWasHit);
    }

    [Fact]
    public void ADamagedEntryIsRebuilt()
    {
        using var tmp = new TempDir();
        var ds = Dataset.FromDict(new Dictionary<string, IList> { ["text"] = new[] { "ab", "c" } });
        var cache = new TokenizedCache(tmp.File("cache"));
        cache.Map(ds, Tokenize(8), "t", "a");
        string path = cache.PathFor(TokenizedCache.Key(ds, "t", "a"));
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        var rebuilt = cache.Map(ds, Tokenize(8), "t", "a");
        Assert.False(cache.LastWasHit);
        Assert.Equal(new[] { 'c' - 0 }, rebuilt.GetIntLists("input_ids")[1]!);
    }

    [Fact]
    public void AnEntryIsAnArrowStreamAsDatasetsWritesItsCache()
    {
        using var tmp = new TempDir();
        var ds = Dataset.FromDict(new Dictionary<string, IList> { ["text"] = new[] { "ab", "c", "" } });
        var cache = new TokenizedCache(tmp.File("cache"));
        cache.Map(ds, Tokenize(8), "t", "a");
        string path = cache.PathFor(TokenizedCache.Key(ds, "t", "a"));
        Assert.StartsWith("cache-", Path.GetFileName(path));
        Assert.EndsWith(".arrow", path);
        // Read by Apache.Arrow alone: the added columns as list<int32>, their features under "huggingface".
        using var reader = new Apache.Arrow.Ipc.ArrowStreamReader(File.OpenRead(path));
        var ids = new List<int[]>();
        while (reader.ReadNextRecordBatch() is { } batch)
        {
            using (batch)
            {
                var list = (Apache.Arrow.ListArray)batch.Column("input_ids");
                var values = (Apache.Arrow.Int32Array)list.Values;
                for (int i = 0; i < list.Length; i++)
                    ids.Add(values.Values[list.ValueOffsets[i]..list.ValueOffsets[i + 1]].ToArray());
            }
        }
        Assert.Equal(new[] { new[] { 'a' - 0, 'b' - 0 }, new[] { 'c' - 0 }, Array.Empty<int>() }, ids);
        Assert.Equal(new[] { "input_ids", "attention_mask" }, reader.Schema.FieldsList.Select(f => f.Name));
        Assert.Contains("\"input_ids\":{\"feature\":{\"dtype\":\"int32\",\"_type\":\"Value\"},\"_type\":\"Sequence\"}", reader.Schema.Metadata["huggingface"]);
    }
}
