using Finetune.Data;
using Finetune.Data.Loading;

namespace Finetune.Tests.Data;

/// <summary>Every dataset in ../shared/datasets loads with the row counts, columns and labels its README documents.</summary>
public class KnownDatasetTests
{
    private static void AssertSplit(Dataset ds, int rows, string[] columns, params (string Label, int Count)[] labels)
    {
        Assert.Equal(rows, ds.NumRows);
        Assert.Equal(columns, ds.ColumnNames);
        if (labels.Length > 0)
        {
            var counts = SharedDatasets.LabelCounts(ds);
            Assert.Equal(labels.ToDictionary(l => l.Label, l => l.Count), counts);
        }
    }

    [SkippableFact]
    public void RottenTomatoesHasHfSplitsColumnsAndBalancedLabels()
    {
        var d = SharedDatasets.Get("rotten_tomatoes");
        Assert.Equal(new[] { "train", "validation", "test" }, d.Keys);
        AssertSplit(d["train"], 8530, ["text", "label"], ("neg", 4265), ("pos", 4265));
        AssertSplit(d["validation"], 1066, ["text", "label"], ("neg", 533), ("pos", 533));
        AssertSplit(d["test"], 1066, ["text", "label"], ("neg", 533), ("pos", 533));
        var label = Assert.IsType<ClassLabel>(d["train"].Features["label"]);
        Assert.Equal(new[] { "neg", "pos" }, label.Names);
        Assert.StartsWith("the rock is destined to be the 21st century's new \" conan \"", d["train"].GetStrings("text")[0]);
        Assert.Equal(1, d["train"].GetInts("label")[0]); // positives first
    }

    [SkippableFact]
    public void RottenTomatoesJsonlEqualsCsv()
    {
        var hf = SharedDatasets.Get("rotten_tomatoes");
        var features = new Features { { "text", Value.String }, { "label", new ClassLabel(["neg", "pos"]) } };
        foreach (var split in new[] { "train", "validation", "test" })
        {
            var jsonl = Dataset.FromFile(SharedData.Require($"datasets/rotten_tomatoes/hf_splits/{split}.jsonl"), new LoadOptions { Features = features });
            Assert.Equal(hf[split].GetStrings("text"), jsonl.GetStrings("text"));
            Assert.Equal(hf[split].GetInts("label"), jsonl.GetInts("label"));
        }
    }

    [SkippableFact]
    public void RottenTomatoesRebuiltFromTheCp1252OriginalsEqualsHfSplits()
    {
        string dir = SharedData.Require("datasets/rotten_tomatoes/rt-polaritydata");
        var rebuilt = KnownDatasets.RottenTomatoesFromPolarity(dir);
        var hf = SharedDatasets.Get("rotten_tomatoes");
        foreach (var split in new[] { "train", "validation", "test" })
        {
            Assert.Equal(hf[split].GetStrings("text"), rebuilt[split].GetStrings("text"));
            Assert.Equal(hf[split].GetInts("label"), rebuilt[split].GetInts("label"));
        }
    }

    [SkippableFact]
    public void GlueMrpcMatchesHf()
    {
        var d = LoadDataset.Load("glue/mrpc", null, new LoadOptions { DataRoot = SharedDatasets.Root });
        string[] cols = ["sentence1", "sentence2", "label", "idx"];
        AssertSplit(d["train"], 3668, cols, ("equivalent", 2474), ("not_equivalent", 1194));
        AssertSplit(d["validation"], 408, cols, ("equivalent", 279), ("not_equivalent", 129));
        AssertSplit(d["test"], 1725, cols, ("equivalent", 1147), ("not_equivalent", 578));
        Assert.Equal(new[] { "not_equivalent", "equivalent" }, ((ClassLabel)d["train"].Features["label"]).Names);
        Assert.Equal("int32", d["train"].Features["idx"].TypeName);
        var row = d["train"][0];
        Assert.Equal("Amrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .", row["sentence1"]);
        Assert.Equal(1L, row["label"]);
        Assert.Equal(0, row["idx"]);
        // idx numbers the rows of msr_paraphrase_train.txt, so train and validation interleave and cover 0..4075.
        var all = d["train"].GetInts("idx").Concat(d["validation"].GetInts("idx")).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 4076), all);
    }

    [SkippableFact]
    public void GlueSst2CountsLabelsAndTestWithoutLabels()
    {
        var d = SharedDatasets.Get("glue/sst2");
        string[] cols = ["sentence", "label", "idx"];
        AssertSplit(d["train"], 67349, cols, ("negative", 29780), ("positive", 37569));
        AssertSplit(d["validation"], 872, cols, ("negative", 428), ("positive", 444));
        AssertSplit(d["test"], 1821, cols, ("-1", 1821));
        Assert.Equal("hide new secretions from the parental units ", d["train"].GetStrings("sentence")[0]);
        Assert.Equal(Enumerable.Range(0, 872), d["validation"].GetInts("idx"));
    }

    [SkippableFact]
    public void GlueStsbHasFloatLabels()
    {
        var d = LoadDataset.Load("glue", "stsb", new LoadOptions { DataRoot = SharedDatasets.Root });
        Assert.Equal(5749, d["train"].NumRows);
        Assert.Equal(1500, d["validation"].NumRows);
        Assert.Equal(1379, d["test"].NumRows);
        Assert.Equal("float32", d["train"].Features["label"].TypeName);
        float[] y = d["train"].GetFloats("label");
        Assert.Equal(5.0f, y[0]);
        Assert.All(y, v => Assert.InRange(v, 0f, 5f));
        Assert.All(d["test"].GetFloats("label"), v => Assert.Equal(-1f, v));
        Assert.Equal(new[] { "sentence1", "sentence2", "label", "idx" }, d["train"].ColumnNames);
    }

    [SkippableFact]
    public void GlueColaRteWnliQnli()
    {
        var o = new LoadOptions { DataRoot = SharedDatasets.Root };
        var cola = LoadDataset.Load("glue/cola", null, o);
        AssertSplit(cola["train"], 8551, ["sentence", "label", "idx"], ("acceptable", 6023), ("unacceptable", 2528));
        AssertSplit(cola["validation"], 1043, ["sentence", "label", "idx"], ("acceptable", 721), ("unacceptable", 322));
        AssertSplit(cola["test"], 1063, ["sentence", "label", "idx"], ("-1", 1063));
        Assert.Equal("Our friends won't buy this analysis, let alone the next one we propose.", cola["train"].GetStrings("sentence")[0]);

        var rte = LoadDataset.Load("glue/rte", null, o);
        AssertSplit(rte["train"], 2490, ["sentence1", "sentence2", "label", "idx"], ("entailment", 1249), ("not_entailment", 1241));
        AssertSplit(rte["validation"], 277, ["sentence1", "sentence2", "label", "idx"], ("entailment", 146), ("not_entailment", 131));
        Assert.Equal(3000, rte["test"].NumRows);

        var wnli = LoadDataset.Load("glue/wnli", null, o);
        Assert.Equal(new[] { "not_entailment", "entailment" }, ((ClassLabel)wnli["train"].Features["label"]).Names);
        AssertSplit(wnli["train"], 635, ["sentence1", "sentence2", "label", "idx"], ("not_entailment", 323), ("entailment", 312));
        AssertSplit(wnli["validation"], 71, ["sentence1", "sentence2", "label", "idx"], ("not_entailment", 40), ("entailment", 31));
        Assert.Equal(146, wnli["test"].NumRows);

        var ax = LoadDataset.Load("glue/ax", null, o);
        Assert.Equal(new[] { "test" }, ax.Keys);
        AssertSplit(ax["test"], 1104, ["premise", "hypothesis", "label", "idx"], ("-1", 1104));
        Assert.Equal("The cat sat on the mat.", ax["test"].GetStrings("premise")[0]);

        var qnli = LoadDataset.Load("glue/qnli", null, o);
        Assert.Equal(new[] { "validation", "test" }, qnli.Keys);
        AssertSplit(qnli["validation"], 5463, ["question", "sentence", "label", "idx"], ("entailment", 2702), ("not_entailment", 2761));
        Assert.Equal(5463, qnli["test"].NumRows);
    }

    [SkippableFact]
    public void ImdbFromGzippedCsv()
    {
        var d = SharedDatasets.Get("imdb");
        Assert.Equal(new[] { "train", "test", "unsupervised" }, d.Keys);
        AssertSplit(d["train"], 25000, ["text", "label"], ("neg", 12500), ("pos", 12500));
        AssertSplit(d["test"], 25000, ["text", "label"], ("neg", 12500), ("pos", 12500));
        AssertSplit(d["unsupervised"], 50000, ["text", "label"], ("-1", 50000));
        Assert.StartsWith("Story of a man who has unnatural feelings for a pig.", d["train"].GetStrings("text")[0]);
        Assert.Contains("<br />", string.Concat(d["train"].GetStrings("text").Take(50)));
    }

    [SkippableFact]
    public void AgNewsJoinsTitleAndDescription()
    {
        var d = LoadDataset.Load("ag_news", null, new LoadOptions { DataRoot = SharedDatasets.Root });
        AssertSplit(d["test"], 7600, ["text", "label"], ("World", 1900), ("Sports", 1900), ("Business", 1900), ("Sci/Tech", 1900));
        Assert.Equal("Fears for T N pension after talks Unions representing workers at Turner   Newall say they are 'disappointed' after talks with stricken parent firm Federal Mogul.", d["test"].GetStrings("text")[0]);
        Assert.Equal(2, d["test"].GetInts("label")[0]);
    }

    [SkippableFact]
    public void SplitSlicesLikeHf()
    {
        var o = new LoadOptions { DataRoot = SharedDatasets.Root };
        var all = SharedDatasets.Get("rotten_tomatoes")["validation"].GetStrings("text");
        Assert.Equal(all.Take(100), LoadDataset.Load("rotten_tomatoes", null, "validation[:100]", o).GetStrings("text"));
        Assert.Equal(all.Skip(10).Take(10), LoadDataset.Load("rotten_tomatoes", null, "validation[10:20]", o).GetStrings("text"));
        // 10% of 1066 = 106.6 -> 107 rows; the last 5% = round(53.3) = 53 rows.
        Assert.Equal(107, LoadDataset.Load("rotten_tomatoes", null, "validation[:10%]", o).NumRows);
        Assert.Equal(all.Skip(1066 - 53), LoadDataset.Load("rotten_tomatoes", null, "validation[-5%:]", o).GetStrings("text"));
        Assert.Equal(2132, LoadDataset.Load("rotten_tomatoes", null, "validation+test", o).NumRows);
        Assert.Throws<FinetuneException>(() => LoadDataset.Load("rotten_tomatoes", null, "validation[::2]", o));
    }

    [SkippableFact]
    public void MissingFilesAndUnknownNamesAreNotFound()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<FinetuneException>(() => LoadDataset.Load("yelp_review_full", null, new LoadOptions { DataRoot = tmp.Path }));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("yelp_review_full", e.Message);
        e = Assert.Throws<FinetuneException>(() => LoadDataset.Load("glue/mnli", null, new LoadOptions { DataRoot = SharedDatasets.Root }));
        Assert.Contains("sst2", e.Message);
        // An unknown name is then a Hub dataset id; offline with an empty cache it is NotFound without any request.
        using (Finetune.Hub.HubSettings.Use(new Finetune.Hub.HubSettings { CacheDir = tmp.File("hub"), Offline = true }))
        {
            e = Assert.ThrowsAny<FinetuneException>(() => LoadDataset.Load("no_such_dataset_xyz"));
            Assert.Equal(ErrorKind.NotFound, e.Kind);
            Assert.Contains("no_such_dataset_xyz", e.Message);
        }
    }

    [SkippableFact]
    public void YelpReviewFullReadsHeaderlessStarsAndText()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("yelp_review_full"));
        File.WriteAllText(tmp.File("yelp_review_full/test.csv"), "\"5\",\"Great food, \"\"really\"\".\"\n\"1\",\"Awful.\\nNever again.\"\n");
        var d = LoadDataset.Load("yelp_review_full", null, new LoadOptions { DataRoot = tmp.Path });
        Assert.Equal(new[] { "label", "text" }, d["test"].ColumnNames);
        Assert.Equal(new[] { 4, 0 }, d["test"].GetInts("label"));
        Assert.Equal("Great food, \"really\".", d["test"].GetStrings("text")[0]);
        Assert.Equal("5 stars", ((ClassLabel)d["test"].Features["label"]).Int2Str(4));
    }

    [SkippableFact]
    public void SpanishTweetFoldersLoadAsSplits()
    {
        var emo = LoadDataset.Load(SharedData.Require("datasets/emoevent_es/splits/es"));
        Assert.Equal(new[] { "train", "validation", "test" }, emo.Keys);
        Assert.Equal(new[] { "id", "event", "tweet", "offensive", "emotion" }, emo["train"].ColumnNames);
        Assert.Equal((5723, 844, 1656), (emo["train"].NumRows, emo["validation"].NumRows, emo["test"].NumRows)); // test.tsv has CRLF endings
        Assert.Equal(8409, LoadDataset.LoadFile(SharedData.Require("datasets/emoevent_es/emoevent_es.csv")).NumRows); // the README's Spanish total
        var cat = LoadDataset.Load(SharedData.Require("datasets/catalonia_independence_es"));
        Assert.Equal(new[] { "id_str", "TWEET", "LABEL" }, cat["train"].ColumnNames);
        Assert.Equal(10077, cat["train"].NumRows + cat["validation"].NumRows + cat["test"].NumRows);
        var stance = cat["train"].ClassEncodeColumn("LABEL");
        Assert.Equal(new[] { "AGAINST", "FAVOR", "NEUTRAL" }, ((ClassLabel)stance.Features["LABEL"]).Names);
    }
}
