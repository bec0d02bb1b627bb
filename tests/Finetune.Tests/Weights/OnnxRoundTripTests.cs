using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Onnx;
using Finetune.Tensors;
using Finetune.Tests.Weights.Onnx;
using Finetune.Weights;
using Microsoft.ML.OnnxRuntime;

namespace Finetune.Tests.Weights;

/// <summary>
/// Export → import for every family, bare encoder and classifier: the folder <see cref="OnnxImport"/> writes from
/// our ONNX file holds every parameter of the original model under its name, with its shape and its bits; its
/// config equals the original (the exporter embeds config.json in the metadata, which ONNX Runtime reads back
/// too); and the reloaded model gives the original's outputs exactly. With the metadata stripped and the dense
/// weights renamed anonymously (the torch.onnx layout of a third-party file) the config is inferred from the
/// graph and the weights named from their biases, and the model is again the same.
/// </summary>
public class OnnxRoundTripTests
{
    public static TheoryData<string, bool> Cases
    {
        get
        {
            var d = new TheoryData<string, bool>();
            foreach (string family in OnnxExportTests.Families) { d.Add(family, true); d.Add(family, false); }
            return d;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OurExportImportsBackBitForBitWithItsConfig(string family, bool classifier)
    {
        var model = Make(family, classifier, 21);
        using var tmp = new TempDir();
        string onnx = tmp.File("model.onnx");
        OnnxExport.Export(model, onnx);
        var expected = model.Config.ToJson();
        expected["architectures"] = new JsonArray(model.ArchitectureName);
        using (var session = new InferenceSession(onnx))
            Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(session.ModelMetadata.CustomMetadataMap[OnnxExport.ConfigMetadataKey])));

        long parameters = OnnxImport.ToPretrainedFolder(onnx, tmp.File("imported"));
        Assert.Equal(model.NumParameters(), parameters);
        AssertSameTensors(model, tmp.File("imported/model.safetensors"));
        var back = AutoConfig.FromPretrained(tmp.File("imported")).ToJson();
        Assert.True(JsonNode.DeepEquals(expected, back), back.ToJsonString());
        AssertSameOutputs(model, tmp.File("imported"), classifier);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void WithoutTheEmbeddedConfigTheGraphGivesTheSameModel(string family, bool classifier)
    {
        var model = Make(family, classifier, 22);
        using var tmp = new TempDir();
        OnnxExport.Export(model, tmp.File("model.onnx"));
        // The test's own protobuf rewriter keeps the graph and drops everything else, metadata_props included, and
        // gives the dense weights anonymous names as torch.onnx does ("onnx::MatMul_7"): only their biases name them.
        var anonymous = new Dictionary<string, string>();
        string Anonymise(string name) => !name.StartsWith("onnx::MatMul::", StringComparison.Ordinal) ? name
            : anonymous.TryGetValue(name, out var a) ? a : anonymous[name] = $"onnx::MatMul_{anonymous.Count}";
        byte[] stripped = OnnxTestFiles.Rebuild(File.ReadAllBytes(tmp.File("model.onnx")), _ => true, Anonymise, Anonymise);
        Assert.NotEmpty(anonymous);
        Directory.CreateDirectory(tmp.File("bare"));
        File.WriteAllBytes(tmp.File("bare/model.onnx"), stripped);
        using (var source = OnnxTensorSource.Open(tmp.File("bare/model.onnx")))
            Assert.Equal(classifier, source.IsClassifier);

        OnnxImport.ToPretrainedFolder(tmp.File("bare/model.onnx"), tmp.File("imported"));
        AssertSameTensors(model, tmp.File("imported/model.safetensors"));
        var inferred = AutoConfig.FromPretrained(tmp.File("imported"));
        Assert.Equal(model.Config.ModelType, inferred.ModelType);
        Assert.Equal([model.ArchitectureName], inferred.Architectures);
        var want = model.Config.ToJson();
        var got = inferred.ToJson();
        foreach (string key in ShapeFields(family))
            Assert.True(JsonNode.DeepEquals(want[key], got[key]), $"{family} {key}: {want[key]?.ToJsonString()} vs {got[key]?.ToJsonString()}");
        if (classifier) Assert.Equal(model.Config.NumLabels, inferred.NumLabels);
        AssertSameOutputs(model, tmp.File("imported"), classifier);
    }

    /// <summary>The fields a graph determines (initializer_range and dropout do not survive an export; label names neither).</summary>
    private static string[] ShapeFields(string family) => family switch
    {
        "distilbert" => ["vocab_size", "dim", "n_layers", "n_heads", "hidden_dim", "max_position_embeddings", "activation", "pad_token_id"],
        "albert" => [.. BertFields, "embedding_size", "num_hidden_groups", "inner_group_num"],
        "electra" => [.. BertFields, "embedding_size"],
        _ => BertFields,
    };

    private static readonly string[] BertFields =
    [
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
        "type_vocab_size", "layer_norm_eps", "hidden_act", "pad_token_id",
    ];

    private static PreTrainedModel Make(string family, bool classifier, ulong seed)
    {
        var config = OnnxExportTests.MakeConfig(family);
        return classifier ? AutoModelForSequenceClassification.FromConfig(config, new Generator(seed)) : AutoModel.FromConfig(config, new Generator(seed));
    }

    private static void AssertSameTensors(PreTrainedModel model, string safetensors)
    {
        using var file = SafeTensors.Read(safetensors);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), file.Names.Order(StringComparer.Ordinal));
        foreach (var (name, t) in model.NamedParameters())
        {
            Assert.Equal(t.Shape, file.Info(name).Shape);
            var back = new float[t.Span.Length];
            file.CopyTo(name, back);
            Assert.True(MemoryMarshal.Cast<float, uint>(t.Span).SequenceEqual(MemoryMarshal.Cast<float, uint>(back.AsSpan())), $"{name} differs after the round trip");
        }
    }

    /// <summary>The reloaded folder's outputs on a padded batch equal the original model's, bit for bit.</summary>
    private static void AssertSameOutputs(PreTrainedModel model, string dir, bool classifier)
    {
        PreTrainedModel loaded = classifier ? AutoModelForSequenceClassification.FromPretrained(dir) : AutoModel.FromPretrained(dir);
        var batch = PaddedBatch(model.Config.PadTokenId ?? 0);
        float[] want = OnnxExportTests.Ours(model, batch, classifier);
        Assert.Equal(want, OnnxExportTests.Ours(loaded, batch, classifier));
    }

    /// <summary>Three rows of 9, 6 and 4 token ids (above the special ids), padded with <paramref name="pad"/>.</summary>
    private static (long[] Ids, long[] Mask, long[] Types, int Batch, int Seq) PaddedBatch(int pad)
    {
        int[] lengths = [9, 6, 4];
        int seq = lengths[0];
        var rng = new Random(5);
        var ids = new long[lengths.Length * seq];
        var mask = new long[ids.Length];
        for (int r = 0; r < lengths.Length; r++)
            for (int i = 0; i < seq; i++)
            {
                bool real = i < lengths[r];
                ids[r * seq + i] = real ? rng.Next(5, 30000) : pad;
                mask[r * seq + i] = real ? 1 : 0;
            }
        return (ids, mask, new long[ids.Length], lengths.Length, seq);
    }
}
