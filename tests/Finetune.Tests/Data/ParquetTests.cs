using System.Globalization;
using Finetune.Data;

namespace Finetune.Tests.Data;

/// <summary>The Parquet reader against Apache's parquet-testing corpus and the Hub's angry_tweets export.</summary>
public class ParquetTests
{
    private static string Data(string name) => SharedData.Require("parquet-testing/data/" + name);

    private static string Cell(object? v) => v switch
    {
        null => "",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture)!,
    };

    [SkippableTheory]
    [InlineData("delta_binary_packed")]
    [InlineData("delta_byte_array")]
    [InlineData("delta_encoding_optional_column")]
    [InlineData("delta_encoding_required_column")]
    public void FilesEqualTheirExpectCsv(string name)
    {
        var actual = Dataset.FromFile(Data(name + ".parquet"));
        var expected = Dataset.FromFile(Data(name + "_expect.csv"));
        Assert.Equal(expected.NumRows, actual.NumRows);
        Assert.Equal(expected.ColumnNames.Count, actual.ColumnNames.Count);
        for (int c = 0; c < expected.ColumnNames.Count; c++)
        {
            var e = expected.GetColumn(expected.ColumnNames[c]);
            var a = actual.GetColumn(actual.ColumnNames[c]);
            for (int r = 0; r < expected.NumRows; r++)
                Assert.True(Cell(e.GetValue(r)) == Cell(a.GetValue(r)), $"{name} row {r} column {actual.ColumnNames[c]}: expected '{Cell(e.GetValue(r))}', got '{Cell(a.GetValue(r))}'");
        }
    }

    [SkippableFact]
    public void AlltypesPlainDictionaryAndSnappyAgree()
    {
        var plain = Dataset.FromFile(Data("alltypes_plain.parquet"));
        Assert.Equal(new[] { 4, 5, 6, 7, 2, 3, 0, 1 }, plain.GetInts("id"));
        Assert.Equal(new[] { 1, 0, 1, 0, 1, 0, 1, 0 }, plain.GetInts("bool_col"));
        Assert.Equal("03/01/09", plain.GetStrings("date_string_col")[0]);
        // INT96 timestamps become nanoseconds since 1970: 2009-03-01T00:00:00Z.
        Assert.Equal(new DateTimeOffset(2009, 3, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000L, (long)plain[0]["timestamp_col"]!);
        var snappy = Dataset.FromFile(Data("alltypes_plain.snappy.parquet"));
        Assert.Equal(new[] { 6, 7 }, snappy.GetInts("id"));
        var dict = Dataset.FromFile(Data("alltypes_dictionary.parquet"));
        Assert.Equal(new[] { 0, 1 }, dict.GetInts("id"));
        var tinyDict = Dataset.FromFile(Data("alltypes_tiny_pages.parquet"));
        var tinyPlain = Dataset.FromFile(Data("alltypes_tiny_pages_plain.parquet"));
        Assert.Equal(7300, tinyDict.NumRows);
        foreach (var col in tinyDict.ColumnNames)
        {
            for (int r = 0; r < tinyDict.NumRows; r += 7) Assert.Equal(Cell(tinyPlain.GetColumn(col).GetValue(r)), Cell(tinyDict.GetColumn(col).GetValue(r)));
        }
    }

    [SkippableFact]
    public void ByteStreamSplitEqualsPlainForEveryType()
    {
        var ds = Dataset.FromFile(Data("byte_stream_split_extended.gzip.parquet"));
        foreach (var col in ds.ColumnNames.Where(c => c.EndsWith("_plain", StringComparison.Ordinal)))
        {
            string bss = col[..^"_plain".Length] + "_byte_stream_split";
            for (int r = 0; r < ds.NumRows; r++) Assert.Equal(Cell(ds.GetColumn(col).GetValue(r)), Cell(ds.GetColumn(bss).GetValue(r)));
        }
        Assert.Equal(200, ds.NumRows);
    }

    [SkippableFact]
    public void CodecsAndPageVersionsGiveTheSameValues()
    {
        var a = Dataset.FromFile(Data("hadoop_lz4_compressed.parquet"));
        foreach (var other in new[] { "lz4_raw_compressed.parquet", "non_hadoop_lz4_compressed.parquet" })
        {
            var b = Dataset.FromFile(Data(other));
            foreach (var col in a.ColumnNames) Assert.Equal(Enumerable.Range(0, a.NumRows).Select(r => Cell(a.GetColumn(col).GetValue(r))), Enumerable.Range(0, b.NumRows).Select(r => Cell(b.GetColumn(col).GetValue(r))));
        }
        Assert.Equal(new[] { "abc", "def", "abc", "def" }, a.GetStrings("c1"));
        var big1 = Dataset.FromFile(Data("hadoop_lz4_compressed_larger.parquet"));
        var big2 = Dataset.FromFile(Data("lz4_raw_compressed_larger.parquet"));
        Assert.Equal(10000, big1.NumRows);
        Assert.Equal(big1.GetStrings("a"), big2.GetStrings("a"));
        var v1 = Dataset.FromFile(Data("datapage_v1-uncompressed-checksum.parquet"));
        var v1s = Dataset.FromFile(Data("datapage_v1-snappy-compressed-checksum.parquet"));
        Assert.Equal(v1.GetInts("a"), v1s.GetInts("a"));
        Assert.Equal(v1.GetInts("b"), v1s.GetInts("b"));
        var gz = Dataset.FromFile(Data("concatenated_gzip_members.parquet"));
        Assert.Equal(Enumerable.Range(1, 513).Select(i => (long)i), Enumerable.Range(0, 513).Select(r => (long)gz[r]["long_col"]!));
    }

    [SkippableFact]
    public void ZstdPagesDecompress()
    {
        // The file's float columns are numpy's standard normals for np.random.seed(0) (the corpus README says
        // "standard normals"; numpy's first draws for seed 0 are well known).
        var bss = Dataset.FromFile(Data("byte_stream_split.zstd.parquet"));
        Assert.Equal(300, bss.NumRows);
        Assert.Equal(new[] { 1.764052345967664f, 0.4001572083672233f, 0.9787379841057392f, 2.240893199201458f, 1.8675579901499675f }, bss.GetFloats("f32").Take(5));
        var fruit = Dataset.FromFile(Data("delta_length_byte_array.parquet"));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => "apple_banana_mango" + (i * i)), fruit.GetStrings("FRUIT"));
        var empty = Dataset.FromFile(Data("page_v2_empty_compressed.parquet"));
        Assert.Equal(10, empty.NumRows);
        Assert.All(Enumerable.Range(0, 10), r => Assert.Null(empty[r]["integer_column"]));
    }

    [SkippableFact]
    public void DecimalsInEveryPhysicalTypeReadAsOneToTwentyFour()
    {
        foreach (var f in new[] { "int32_decimal.parquet", "int64_decimal.parquet", "fixed_length_decimal.parquet", "fixed_length_decimal_legacy.parquet", "byte_array_decimal.parquet" })
        {
            var ds = Dataset.FromFile(Data(f));
            Assert.Equal(Enumerable.Range(1, 24).Select(i => (double)i), Enumerable.Range(0, 24).Select(r => (double)ds[r]["value"]!));
        }
    }

    [SkippableFact]
    public void NullsEmptyListsAndListsOfInt()
    {
        var empty = Dataset.FromFile(Data("null_list.parquet"));
        Assert.Equal(1, empty.NumRows);
        Assert.Empty(empty.GetIntLists("emptylist")[0]!);
        var pages = Dataset.FromFile(Data("int32_with_null_pages.parquet"));
        Assert.Equal(1000, pages.NumRows);
        Assert.True(pages.GetColumn("int32_field").HasNulls);
        var v2 = Dataset.FromFile(Data("datapage_v2.snappy.parquet"));
        Assert.Equal("sequence<int32>", v2.Features["e"].TypeName);
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }, v2.GetInts("b"));
    }

    [SkippableFact]
    public void EveryFileInTheCorpusLoadsOrFailsCleanly()
    {
        string dir = SharedData.Require("parquet-testing/data");
        int loaded = 0;
        foreach (var f in Directory.EnumerateFiles(dir, "*.parquet*", SearchOption.AllDirectories).Order())
        {
            try
            {
                Dataset.FromFile(f, new LoadOptions { Format = "parquet" });
                loaded++;
            }
            catch (FinetuneException e)
            {
                Assert.True(e.Kind is ErrorKind.Unsupported or ErrorKind.InvalidInput, f + ": " + e.Message);
                Assert.Contains(Path.GetFileName(f), e.Message);
            }
        }
        Assert.True(loaded >= 45, $"only {loaded} files loaded");
    }

    [SkippableFact]
    public void EveryBadFileFailsWithAClearError()
    {
        string dir = SharedData.Require("parquet-testing/bad_data");
        // ARROW-GH-43605 reproduces a Go reader crash on dictionary indices of bit width 0, which the format allows
        // (all indices 0); parquet-testing PR #57 adds it so readers handle it instead of crashing. It must read.
        var zeroWidth = Dataset.FromFile(Path.Combine(dir, "ARROW-GH-43605.parquet"));
        Assert.Equal(21186, zeroWidth.NumRows);
        Assert.Single(zeroWidth.GetInts("min_fl").Distinct());
        var files = Directory.GetFiles(dir, "*.parquet").Where(f => !f.EndsWith("ARROW-GH-43605.parquet", StringComparison.Ordinal)).Order().ToArray();
        Assert.Equal(7, files.Length);
        foreach (var f in files)
        {
            var e = Assert.Throws<FinetuneException>(() => Dataset.FromFile(f));
            Assert.Contains(Path.GetFileName(f), e.Message);
            Assert.True(e.Kind is ErrorKind.InvalidInput or ErrorKind.Unsupported, f + ": " + e.Message);
        }
        var malformed = Assert.Throws<FinetuneException>(() => Dataset.FromFile(Data("nation.dict-malformed.parquet")));
        Assert.Equal(ErrorKind.InvalidInput, malformed.Kind);
    }

    [Fact]
    public void TruncatedAndGarbageFilesFail()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp.File("a.parquet"), "PAR1PAR1"u8.ToArray());
        Assert.Equal(ErrorKind.InvalidInput, Assert.Throws<FinetuneException>(() => Dataset.FromFile(tmp.File("a.parquet"))).Kind);
        File.WriteAllBytes(tmp.File("b.parquet"), [.. "PAR1"u8, 0xFF, 0xFF, 0xFF, 0x7F, .. "PAR1"u8]);
        Assert.Equal(ErrorKind.InvalidInput, Assert.Throws<FinetuneException>(() => Dataset.FromFile(tmp.File("b.parquet"))).Kind);
    }

    [SkippableFact]
    public void AngryTweetsFromTheHubLoadWithTheirLabels()
    {
        var d = LoadDataset.Load(SharedData.Require("datasets/angry_tweets_da"));
        Assert.Equal(new[] { "train", "test" }, d.Keys);
        Assert.Equal((2411, 1047), (d["train"].NumRows, d["test"].NumRows));
        Assert.Equal(new[] { "text", "label" }, d["train"].ColumnNames);
        var enc = d["train"].ClassEncodeColumn("label");
        Assert.Equal(new[] { "negativ", "neutral", "positiv" }, ((ClassLabel)enc.Features["label"]).Names);
        Assert.StartsWith("Et stort tillykke til @USER", d["train"].GetStrings("text")[0]);
    }
}

public class ParquetHfMetadataTests
{
    [Fact]
    public void HuggingfaceMetadataGivesClassLabelsAndValueTypes()
    {
        using var tmp = new TempDir();
        string meta = "{\"info\": {\"features\": {\"text\": {\"dtype\": \"string\", \"_type\": \"Value\"}, \"label\": {\"names\": [\"neg\", \"pos\"], \"_type\": \"ClassLabel\"}, \"idx\": {\"dtype\": \"int32\", \"_type\": \"Value\"}}}}";
        byte[] bytes = TinyParquetWriter.Write(
            [
                new("text", true, ["great film", null, "dull"]),
                new("label", false, [1L, 0L, 0L]),
                new("idx", false, [0L, 1L, null]),
            ],
            new Dictionary<string, string> { ["huggingface"] = meta });
        File.WriteAllBytes(tmp.File("train-00000-of-00001.parquet"), bytes);
        var ds = LoadDataset.Load(tmp.Path)["train"];
        Assert.Equal(new[] { "text", "label", "idx" }, ds.ColumnNames);
        Assert.Equal(new[] { "neg", "pos" }, ((ClassLabel)ds.Features["label"]).Names);
        Assert.Equal("int32", ds.Features["idx"].TypeName);
        Assert.Equal(new string?[] { "great film", null, "dull" }, ds.GetStrings("text"));
        Assert.Equal(new[] { 1, 0, 0 }, ds.GetInts("label"));
        Assert.Null(ds[2]["idx"]);
        var json = Finetune.Data.DatasetInfo.ToJson(new DatasetDict { ["train"] = ds }).ToJsonString();
        Assert.Contains("\"label_counts\":{\"neg\":2,\"pos\":1}", json);
    }
}

public class ParquetWriterTests
{
    [Fact]
    public void EveryColumnTypeRoundTripsWithItsFeatures()
    {
        using var tmp = new TempDir();
        var ds = Dataset.FromDict(new Dictionary<string, System.Collections.IList>
        {
            ["text"] = new string?[] { "héllo", null, "", "wörld 💪" },
            ["label"] = new long[] { 1, 0, 2, 1 },
            ["i32"] = new[] { 1, -2, int.MaxValue, int.MinValue },
            ["f32"] = new[] { 0.5f, -1.25f, float.NaN, 3e38f },
            ["f64"] = new[] { Math.PI, -0.0, 1e-300, double.MaxValue },
            ["flag"] = new[] { true, false, true, true },
            ["input_ids"] = new int[]?[] { [101, 7592, 102], null, [], [5] },
        }, new Features { { "label", new ClassLabel(["neg", "neu", "pos"]) } });
        string path = tmp.File("x.parquet");
        ds.ToParquet(path);
        var back = Dataset.FromFile(path);
        Assert.Equal(ds.ColumnNames, back.ColumnNames);
        foreach (var (name, type) in ds.Features) Assert.Equal(type.TypeName, back.Features[name].TypeName);
        for (int r = 0; r < ds.NumRows; r++)
        {
            foreach (var name in ds.ColumnNames)
            {
                object? a = ds[r][name], b = back[r][name];
                if (a is int[] x) Assert.Equal(x, (int[])b!);
                else Assert.Equal(a, b);
            }
        }
    }

    [SkippableFact]
    public void RottenTomatoesRoundTripsThroughParquet()
    {
        var train = SharedDatasets.Get("rotten_tomatoes")["train"];
        using var tmp = new TempDir();
        train.ToParquet(tmp.File("train-00000-of-00001.parquet"));
        var back = LoadDataset.Load(tmp.Path)["train"];
        Assert.Equal(train.GetStrings("text"), back.GetStrings("text"));
        Assert.Equal(train.GetInts("label"), back.GetInts("label"));
        Assert.Equal(new[] { "neg", "pos" }, ((ClassLabel)back.Features["label"]).Names);
    }
}
