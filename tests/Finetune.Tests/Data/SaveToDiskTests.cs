using System.Collections;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Finetune.Data;

namespace Finetune.Tests.Data;

/// <summary>
/// Folders as Python `datasets` writes them with `save_to_disk`: the Arrow IPC streams are written here with
/// Apache.Arrow's own builders and writer (not our writer), state.json and dataset_info.json are the text datasets
/// writes (json.dump with indent=2; datasets 2.x spells features with `id: null` and `Sequence`, 4.x with `List`),
/// and the known rows are checked value by value.
/// </summary>
public class SaveToDiskTests
{
    private const string HfFeatures =
        "{\"text\": {\"dtype\": \"string\", \"_type\": \"Value\"}, \"label\": {\"names\": [\"neg\", \"pos\"], \"_type\": \"ClassLabel\"}, " +
        "\"idx\": {\"dtype\": \"int32\", \"_type\": \"Value\"}, \"score\": {\"dtype\": \"float32\", \"_type\": \"Value\"}, " +
        "\"weight\": {\"dtype\": \"float64\", \"_type\": \"Value\"}, \"flag\": {\"dtype\": \"bool\", \"_type\": \"Value\"}, " +
        "\"input_ids\": {\"feature\": {\"dtype\": \"int32\", \"_type\": \"Value\"}, \"_type\": \"Sequence\"}, " +
        "\"attention_mask\": {\"feature\": {\"dtype\": \"int8\", \"_type\": \"Value\"}, \"_type\": \"Sequence\"}}";

    // datasets 2.x's dataset_info.json for the same features: every dataclass field, `id: null`, `length: -1`.
    private const string InfoV2 = """
        {
          "builder_name": null,
          "citation": "",
          "config_name": null,
          "dataset_name": null,
          "dataset_size": null,
          "description": "",
          "download_checksums": null,
          "download_size": null,
          "features": {
            "text": {"dtype": "string", "id": null, "_type": "Value"},
            "label": {"num_classes": 2, "names": ["neg", "pos"], "id": null, "_type": "ClassLabel"},
            "idx": {"dtype": "int32", "id": null, "_type": "Value"},
            "score": {"dtype": "float32", "id": null, "_type": "Value"},
            "weight": {"dtype": "float64", "id": null, "_type": "Value"},
            "flag": {"dtype": "bool", "id": null, "_type": "Value"},
            "input_ids": {"feature": {"dtype": "int32", "id": null, "_type": "Value"}, "length": -1, "id": null, "_type": "Sequence"},
            "attention_mask": {"feature": {"dtype": "int8", "id": null, "_type": "Value"}, "length": -1, "id": null, "_type": "Sequence"}
          },
          "homepage": "",
          "license": "",
          "post_processed": null,
          "post_processing_size": null,
          "size_in_bytes": null,
          "splits": null,
          "supervised_keys": null,
          "task_templates": null,
          "version": null
        }
        """;

    // datasets 4.x: defaults left out, lists as `List`.
    private const string InfoV4 = """
        {
          "citation": "",
          "description": "",
          "features": {
            "text": {"dtype": "string", "_type": "Value"},
            "label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
            "idx": {"dtype": "int32", "_type": "Value"},
            "score": {"dtype": "float32", "_type": "Value"},
            "weight": {"dtype": "float64", "_type": "Value"},
            "flag": {"dtype": "bool", "_type": "Value"},
            "input_ids": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "List"},
            "attention_mask": {"feature": {"dtype": "int8", "_type": "Value"}, "_type": "List"}
          },
          "homepage": "",
          "license": ""
        }
        """;

    private static string State(string? split, params string[] shards) =>
        "{\n  \"_data_files\": [\n" + string.Join(",\n", shards.Select(s => "    {\n      \"filename\": \"" + s + "\"\n    }")) + "\n  ],\n" +
        "  \"_fingerprint\": \"5a1e0a4d3b2c1f00\",\n  \"_format_columns\": null,\n  \"_format_kwargs\": {},\n  \"_format_type\": null,\n" +
        "  \"_output_all_columns\": false,\n  \"_split\": " + (split == null ? "null" : "\"" + split + "\"") + "\n}";

    /// <summary>The known rows: (text, label, idx, score, weight, flag, input_ids, attention_mask).</summary>
    private static readonly (string? Text, long Label, int Idx, float Score, double Weight, bool Flag, int[] Ids)[] Rows =
    [
        ("the rock is destined to be", 1, 0, 0.5f, 1.25, true, [101, 1996, 2600, 102]),
        ("simplistic , silly and tedious .", 0, 1, -2f, 0.0, false, [101, 102]),
        (null, 1, 2, 3.75f, -7.5, true, []),
        ("unicode: café ✓ 𝄞", 0, 3, 1e-3f, 1e300, false, [101, 7, 8, 9, 10, 102]),
        ("last", 1, 4, 0f, 2.0, true, [5]),
    ];

    private static Schema FixtureSchema() => new Schema.Builder()
        .Field(new Field("text", StringType.Default, true))
        .Field(new Field("label", Int64Type.Default, true))
        .Field(new Field("idx", Int32Type.Default, true))
        .Field(new Field("score", FloatType.Default, true))
        .Field(new Field("weight", DoubleType.Default, true))
        .Field(new Field("flag", BooleanType.Default, true))
        .Field(new Field("input_ids", new ListType(new Field("item", Int32Type.Default, true)), true))
        .Field(new Field("attention_mask", new ListType(new Field("item", Int8Type.Default, true)), true))
        .Metadata("huggingface", "{\"info\": {\"features\": " + HfFeatures + "}}")
        .Build();

    /// <summary>Rows [from, to) as one record batch, built with Apache.Arrow's builders.</summary>
    private static RecordBatch Batch(Schema schema, int from, int to)
    {
        var text = new StringArray.Builder();
        var label = new Int64Array.Builder();
        var idx = new Int32Array.Builder();
        var score = new FloatArray.Builder();
        var weight = new DoubleArray.Builder();
        var flag = new BooleanArray.Builder();
        var ids = new ListArray.Builder(Int32Type.Default);
        var idValues = (Int32Array.Builder)ids.ValueBuilder;
        var mask = new ListArray.Builder(Int8Type.Default);
        var maskValues = (Int8Array.Builder)mask.ValueBuilder;
        for (int r = from; r < to; r++)
        {
            var row = Rows[r];
            if (row.Text == null) text.AppendNull(); else text.Append(row.Text);
            label.Append(row.Label);
            idx.Append(row.Idx);
            score.Append(row.Score);
            weight.Append(row.Weight);
            flag.Append(row.Flag);
            ids.Append();
            mask.Append();
            foreach (int id in row.Ids)
            {
                idValues.Append(id);
                maskValues.Append(1);
            }
        }
        return new RecordBatch(schema, new IArrowArray[]
        {
            text.Build(), label.Build(), idx.Build(), score.Build(), weight.Build(), flag.Build(), ids.Build(), mask.Build(),
        }, to - from);
    }

    private static void WriteStream(string path, params (int From, int To)[] batches)
    {
        var schema = FixtureSchema();
        using var fs = File.Create(path);
        using var writer = new ArrowStreamWriter(fs, schema);
        foreach (var (from, to) in batches) writer.WriteRecordBatch(Batch(schema, from, to));
        writer.WriteEnd();
    }

    /// <summary>Two shards, the first with two record batches, as save_to_disk(num_shards=2) leaves them.</summary>
    private static string WriteDatasetFolder(string dir, string info, string? split = null)
    {
        Directory.CreateDirectory(dir);
        WriteStream(Path.Combine(dir, "data-00000-of-00002.arrow"), (0, 2), (2, 3));
        WriteStream(Path.Combine(dir, "data-00001-of-00002.arrow"), (3, 5));
        File.WriteAllText(Path.Combine(dir, "state.json"), State(split, "data-00000-of-00002.arrow", "data-00001-of-00002.arrow"));
        File.WriteAllText(Path.Combine(dir, "dataset_info.json"), info);
        return dir;
    }

    private static void AssertKnownRows(Dataset ds)
    {
        Assert.Equal(new[] { "text", "label", "idx", "score", "weight", "flag", "input_ids", "attention_mask" }, ds.ColumnNames);
        Assert.Same(Value.String, ds.Features["text"]);
        Assert.Equal(new[] { "neg", "pos" }, Assert.IsType<ClassLabel>(ds.Features["label"]).Names);
        Assert.Same(Value.Int32, ds.Features["idx"]);
        Assert.Same(Value.Float32, ds.Features["score"]);
        Assert.Same(Value.Float64, ds.Features["weight"]);
        Assert.Same(Value.Bool, ds.Features["flag"]);
        Assert.IsType<Sequence>(ds.Features["input_ids"]);
        Assert.IsType<Sequence>(ds.Features["attention_mask"]);
        Assert.Equal(Rows.Length, ds.NumRows);
        for (int r = 0; r < Rows.Length; r++)
        {
            var want = Rows[r];
            var row = ds[r];
            Assert.Equal(want.Text, row["text"]);
            Assert.Equal(want.Label, row["label"]);
            Assert.Equal(want.Idx, row["idx"]);
            Assert.Equal(want.Score, row["score"]);
            Assert.Equal(want.Weight, row["weight"]);
            Assert.Equal(want.Flag, row["flag"]);
            Assert.Equal(want.Ids, (int[])row["input_ids"]!);
            Assert.Equal(Enumerable.Repeat(1, want.Ids.Length), (int[])row["attention_mask"]!);
        }
    }

    [Theory]
    [InlineData(InfoV2)]
    [InlineData(InfoV4)]
    public void ADatasetFolderLoadsWithItsRowsAndFeatures(string info)
    {
        using var tmp = new TempDir();
        string dir = WriteDatasetFolder(tmp.File("saved"), info, split: "validation");
        var dict = LoadDataset.LoadFromDisk(dir);
        Assert.Equal(new[] { "validation" }, dict.Keys);
        AssertKnownRows(dict["validation"]);
        AssertKnownRows(Dataset.LoadFromDisk(dir));
        // Loading the same folder twice gives the same fingerprint (the tokenized cache keys on it).
        Assert.Equal(Dataset.LoadFromDisk(dir).Fingerprint, dict["validation"].Fingerprint);
    }

    [Fact]
    public void FeaturesComeFromTheSchemaWhenDatasetInfoHasNone()
    {
        using var tmp = new TempDir();
        string dir = WriteDatasetFolder(tmp.File("saved"), "{\"features\": null}");
        AssertKnownRows(LoadDataset.LoadFromDisk(dir)["train"]);
    }

    [Fact]
    public void ADatasetDictFolderLoadsEverySplitAndLoadAcceptsIt()
    {
        using var tmp = new TempDir();
        string root = tmp.File("dict");
        WriteDatasetFolder(Path.Combine(root, "train"), InfoV4, "train");
        WriteDatasetFolder(Path.Combine(root, "test"), InfoV2, "test");
        File.WriteAllText(Path.Combine(root, "dataset_dict.json"), "{\"splits\": [\"train\", \"test\"]}");
        foreach (var dict in new[] { LoadDataset.LoadFromDisk(root), LoadDataset.Load(root) })
        {
            Assert.Equal(new[] { "train", "test" }, dict.Keys);
            AssertKnownRows(dict["train"]);
            AssertKnownRows(dict["test"]);
        }
    }

    [Fact]
    public void SaveToDiskRoundTripsAndWritesWhatArrowAndDatasetsRead()
    {
        using var tmp = new TempDir();
        var ds = Dataset.LoadFromDisk(WriteDatasetFolder(tmp.File("saved"), InfoV4));
        // More rows than one record batch holds, so the writer's batching is crossed too.
        var big = Dataset.FromDict(new Dictionary<string, IList>
        {
            ["text"] = Enumerable.Range(0, 2500).Select(i => i % 7 == 0 ? null : "row " + i).ToArray(),
            ["label"] = Enumerable.Range(0, 2500).Select(i => (long)(i % 2)).ToArray(),
            ["input_ids"] = Enumerable.Range(0, 2500).Select(i => Enumerable.Range(i, i % 5).ToArray()).ToArray(),
        }, new Features { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) }, { "input_ids", Sequence.Int32 } });
        var dict = new DatasetDict { ["train"] = big, ["validation"] = ds };
        dict.SaveToDisk(tmp.File("out"));

        var back = LoadDataset.LoadFromDisk(tmp.File("out"));
        Assert.Equal(new[] { "train", "validation" }, back.Keys);
        Assert.Equal(ds.Rows(), back["validation"].Rows());
        Assert.Equal(big.Rows(), back["train"].Rows());
        Assert.Equal(new[] { "neg", "pos" }, ((ClassLabel)back["train"].Features["label"]).Names);

        // The shard, read by Apache.Arrow alone: the types datasets gives these features, and its metadata key.
        string shard = Path.Combine(tmp.File("out"), "train", "data-00000-of-00001.arrow");
        using var reader = new ArrowStreamReader(File.OpenRead(shard));
        int rows = 0;
        while (reader.ReadNextRecordBatch() is { } batch) using (batch) rows += batch.Length;
        Assert.Equal(2500, rows);
        Assert.Equal(ArrowTypeId.String, reader.Schema.GetFieldByName("text").DataType.TypeId);
        Assert.Equal(ArrowTypeId.Int64, reader.Schema.GetFieldByName("label").DataType.TypeId);
        var list = Assert.IsType<ListType>(reader.Schema.GetFieldByName("input_ids").DataType);
        Assert.Equal(ArrowTypeId.Int32, list.ValueDataType.TypeId);
        Assert.Contains("\"_type\":\"ClassLabel\"", reader.Schema.Metadata["huggingface"]);
        string state = File.ReadAllText(Path.Combine(tmp.File("out"), "train", "state.json"));
        Assert.Contains("\"filename\": \"data-00000-of-00001.arrow\"", state);
        Assert.Contains("\"_split\": \"train\"", state);
    }

    [Fact]
    public void BadFoldersFailWithOneErrorNamingTheFile()
    {
        using var tmp = new TempDir();
        string good = WriteDatasetFolder(tmp.File("good"), InfoV4);
        string shard = Path.Combine(good, "data-00001-of-00002.arrow");
        byte[] bytes = File.ReadAllBytes(shard);

        string Copy(string name)
        {
            string dir = tmp.File(name);
            Directory.CreateDirectory(dir);
            foreach (var f in Directory.GetFiles(good)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            return dir;
        }
        FinetuneException Fails(string dir, ErrorKind kind, string names)
        {
            var e = Assert.Throws<FinetuneException>(() => LoadDataset.LoadFromDisk(dir));
            Assert.Equal(kind, e.Kind);
            Assert.Contains(names, e.Message);
            return e;
        }

        // Cut inside a message, and cut at the end of the last batch (before the end-of-stream marker).
        foreach (int keep in new[] { bytes.Length / 2, bytes.Length - 8, 3 })
        {
            string dir = Copy("cut" + keep);
            File.WriteAllBytes(Path.Combine(dir, "data-00001-of-00002.arrow"), bytes[..keep]);
            Fails(dir, ErrorKind.InvalidInput, "data-00001-of-00002.arrow");
        }

        // A message claiming 2 GiB: an error, not an allocation of what it claims.
        string huge = Copy("huge");
        var claim = (byte[])bytes.Clone();
        BitConverter.GetBytes(int.MaxValue - 7).CopyTo(claim, 4);
        File.WriteAllBytes(Path.Combine(huge, "data-00001-of-00002.arrow"), claim);
        Fails(huge, ErrorKind.InvalidInput, "data-00001-of-00002.arrow");

        string missingShard = Copy("missing-shard");
        File.Delete(Path.Combine(missingShard, "data-00001-of-00002.arrow"));
        Fails(missingShard, ErrorKind.NotFound, "data-00001-of-00002.arrow");

        string missingInfo = Copy("missing-info");
        File.Delete(Path.Combine(missingInfo, "dataset_info.json"));
        Fails(missingInfo, ErrorKind.NotFound, "dataset_info.json");

        string wrongType = Copy("wrong-type");
        File.WriteAllText(Path.Combine(wrongType, "dataset_info.json"), InfoV4.Replace("\"idx\": {\"dtype\": \"int32\"", "\"idx\": {\"dtype\": \"int64\""));
        var e = Fails(wrongType, ErrorKind.InvalidInput, "data-00000-of-00002.arrow");
        Assert.Contains("'idx' is int32", e.Message);
        Assert.Contains("dataset_info.json", e.Message);

        string renamed = Copy("renamed");
        File.WriteAllText(Path.Combine(renamed, "dataset_info.json"), InfoV4.Replace("\"weight\":", "\"mass\":"));
        Assert.Contains("'mass'", Fails(renamed, ErrorKind.InvalidInput, "data-00000-of-00002.arrow").Message);

        string unsupported = Copy("unsupported");
        File.WriteAllText(Path.Combine(unsupported, "dataset_info.json"), InfoV4.Replace("{\"dtype\": \"bool\", \"_type\": \"Value\"}", "{\"_type\": \"Image\"}"));
        Assert.Contains("'flag'", Fails(unsupported, ErrorKind.Unsupported, "dataset_info.json").Message);

        string traversal = Copy("traversal");
        File.WriteAllText(Path.Combine(traversal, "state.json"), State(null, "../good/data-00000-of-00002.arrow"));
        Fails(traversal, ErrorKind.InvalidInput, "state.json");

        string badJson = Copy("bad-json");
        File.WriteAllText(Path.Combine(badJson, "state.json"), "{\"_data_files\": [");
        Fails(badJson, ErrorKind.InvalidInput, "state.json");

        string dict = tmp.File("dict");
        Directory.CreateDirectory(dict);
        File.WriteAllText(Path.Combine(dict, "dataset_dict.json"), "{\"splits\": [\"train\"]}");
        Fails(dict, ErrorKind.NotFound, Path.Combine("train", "state.json"));
    }

    [Fact]
    public void TheCliReadsASavedFolder()
    {
        using var tmp = new TempDir();
        string dir = WriteDatasetFolder(tmp.File("saved"), InfoV4, "train");
        var (code, output, _) = Finetune.Tests.Cli.CliRunner.Run("dataset", "info", dir, "--json");
        Assert.Equal(0, code);
        Assert.Contains("\"num_rows\":5", output.Replace(" ", ""));
        Assert.Contains("\"class_label\":[\"neg\",\"pos\"]", output.Replace(" ", ""));
    }
}
