using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Onnx;
using Finetune.Weights;

namespace Finetune.Tests.Weights.Onnx;

public class OnnxImportTests
{
    /// <summary>
    /// Layer 0's dense weights, read off each graph by hand: the anonymous initializer a MatMul consumes, and the
    /// named bias its output is added to.
    /// </summary>
    public static readonly TheoryData<string, string, string> Layer0 = new()
    {
        { OnnxTestFiles.MiniLm, "927", "encoder.layer.0.attention.self.query.bias" },
        { OnnxTestFiles.MiniLm, "928", "encoder.layer.0.attention.self.key.bias" },
        { OnnxTestFiles.MiniLm, "931", "encoder.layer.0.attention.self.value.bias" },
        { OnnxTestFiles.MiniLm, "937", "encoder.layer.0.attention.output.dense.bias" },
        { OnnxTestFiles.MiniLm, "938", "encoder.layer.0.intermediate.dense.bias" },
        { OnnxTestFiles.MiniLm, "939", "encoder.layer.0.output.dense.bias" },
        { OnnxTestFiles.Arctic, "onnx::MatMul_788", "encoder.layer.0.attention.self.query.bias" },
        { OnnxTestFiles.Arctic, "onnx::MatMul_789", "encoder.layer.0.attention.self.key.bias" },
        { OnnxTestFiles.Arctic, "onnx::MatMul_792", "encoder.layer.0.attention.self.value.bias" },
        { OnnxTestFiles.Arctic, "onnx::MatMul_798", "encoder.layer.0.attention.output.dense.bias" },
        { OnnxTestFiles.Arctic, "onnx::MatMul_799", "encoder.layer.0.intermediate.dense.bias" },
        { OnnxTestFiles.Arctic, "onnx::MatMul_800", "encoder.layer.0.output.dense.bias" },
    };

    [Theory]
    [MemberData(nameof(Layer0))]
    public void Layer0TableMatchesTheGraphAndTheImporter(string modelId, string initializer, string bias)
    {
        var (_, nodes) = OnnxTestFiles.Decode(OnnxTestFiles.ReadOnnx(modelId));
        var matmul = Assert.Single(nodes, n => n.Op == "MatMul" && n.Inputs[1] == initializer);
        var add = Assert.Single(nodes, n => n.Op == "Add" && n.Inputs.Contains(matmul.Outputs[0]));
        Assert.Contains(bias, add.Inputs);

        var model = OnnxTestFiles.Require(modelId);
        using var stream = model.OpenOnnx();
        using var source = OnnxTensorSource.Load(stream, model.AssemblyPath);
        Assert.Equal((initializer, true), source.Source(bias[..^".bias".Length] + ".weight"));
    }

    [SkippableFact]
    public void InferredConfigEqualsTheRealMiniLmConfig()
    {
        var real = (JsonObject)JsonNode.Parse(File.ReadAllText(SharedData.Require("models/all-MiniLM-L6-v2/config.json")))!;
        foreach (string k in new[] { "_name_or_path", "gradient_checkpointing", "transformers_version" }) real.Remove(k);
        var model = OnnxTestFiles.Require(OnnxTestFiles.MiniLm);
        using var tmp = new TempDir();
        using (var onnx = model.OpenOnnx())
            OnnxImport.ToPretrainedFolder(onnx, null, tmp.Path);
        string written = File.ReadAllText(tmp.File("config.json"));
        Assert.True(JsonNode.DeepEquals(real, JsonNode.Parse(written)), written);
        using var stream = model.OpenOnnx();
        using var source = OnnxTensorSource.Load(stream, model.AssemblyPath);
        Assert.True(source.HasPooler);
        Assert.Equal(["last_hidden_state", "924"], source.GraphOutputs);
    }

    [Fact]
    public void ArcticHasTheSameShapeAndNoPooler()
    {
        var model = OnnxTestFiles.Require(OnnxTestFiles.Arctic);
        using var stream = model.OpenOnnx();
        using var source = OnnxTensorSource.Load(stream, model.AssemblyPath);
        var c = Assert.IsType<BertConfig>(source.Config);
        Assert.Equal((30522, 384, 6, 12, 1536, 512, 2, 1e-12, "gelu"),
            (c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.MaxPositionEmbeddings, c.TypeVocabSize, c.LayerNormEps, c.HiddenAct));
        Assert.False(source.HasPooler);
        Assert.DoesNotContain(source.Names, n => n.StartsWith("pooler.", StringComparison.Ordinal));
    }

    /// <summary>
    /// The converted model.safetensors holds exactly a hand-made conversion: BertModel's names, and for each the
    /// initializer's bytes (from the test's own decoder) — named ones as stored, each dense weight found by
    /// walking MatMul → Add(bias) in the decoded graph, transposed from [in, out]; the pooler's Gemm weight
    /// (transB=1) as stored.
    /// </summary>
    [Theory]
    [InlineData(OnnxTestFiles.MiniLm, 103)]
    [InlineData(OnnxTestFiles.Arctic, 101)]
    public void ConversionEqualsAHandMadeOneBitForBit(string modelId, int tensorCount)
    {
        byte[] onnx = OnnxTestFiles.ReadOnnx(modelId);
        var (inits, nodes) = OnnxTestFiles.Decode(onnx);
        var expected = new Dictionary<string, (long[] Shape, byte[] Bytes)>();
        foreach (var init in inits.Values)
            if (init.DataType == 1 && (init.Name.EndsWith(".weight") || init.Name.EndsWith(".bias")))
                expected[init.Name] = (init.Dims, init.Raw);
        foreach (var mm in nodes.Where(n => n.Op == "MatMul" && inits.ContainsKey(n.Inputs[1])))
        {
            var w = inits[mm.Inputs[1]];
            var add = nodes.Single(n => n.Op == "Add" && n.Inputs.Contains(mm.Outputs[0]));
            string bias = add.Inputs.Single(i => i != mm.Outputs[0]);
            expected[bias[..^5] + ".weight"] = ([w.Dims[1], w.Dims[0]], OnnxTestFiles.Transpose(w.Raw, (int)w.Dims[0], (int)w.Dims[1]));
        }

        var model = OnnxTestFiles.Require(modelId);
        using var tmp = new TempDir();
        using (var stream = model.OpenOnnx())
        using (var vocab = model.OpenVocab())
            OnnxImport.ToPretrainedFolder(stream, vocab, tmp.Path);
        using var st = SafeTensors.Read(tmp.File("model.safetensors"));
        Assert.Equal(tensorCount, st.Names.Count);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), st.Names.Order(StringComparer.Ordinal));
        foreach (string name in st.Names)
        {
            var info = st.Info(name);
            Assert.Equal(DType.F32, info.DType);
            Assert.Equal(expected[name].Shape, info.Shape.Select(d => (long)d));
            Assert.True(expected[name].Bytes.AsSpan().SequenceEqual(st.RawBytes(name)), name);
        }
        foreach (string f in new[] { "config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json" })
            Assert.True(File.Exists(tmp.File(f)), f);
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(tmp.Path)!, "." + Path.GetFileName(tmp.Path) + ".*.tmp"));

        // The existing loading path reads the folder: every BertModel parameter is found (arctic: all but the pooler).
        var loaded = AutoModel.FromPretrained(tmp.Path, null, out var report);
        Assert.Empty(report.Unused);
        Assert.Equal(tensorCount == 103 ? [] : ["pooler.dense.bias", "pooler.dense.weight"], report.NewlyInitialized.Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void WrittenTokenizerJsonEncodesLikeTheVocabTxtTokenizer()
    {
        var model = OnnxTestFiles.Require(OnnxTestFiles.MiniLm);
        using var tmp = new TempDir();
        using (var stream = model.OpenOnnx())
        using (var vocab = model.OpenVocab())
            OnnxImport.ToPretrainedFolder(stream, vocab, tmp.Path);
        string legacy = Path.Combine(tmp.Path, "legacy");
        Directory.CreateDirectory(legacy);
        foreach (string f in new[] { "vocab.txt", "tokenizer_config.json", "special_tokens_map.json" }) File.Copy(tmp.File(f), Path.Combine(legacy, f));
        var fromJson = Finetune.Tokenizers.AutoTokenizer.FromPretrained(tmp.Path);
        var fromVocab = Finetune.Tokenizers.AutoTokenizer.FromPretrained(legacy);
        string[] texts = ["Hello, World! It's a naïve café — 東京 tokenization.", "unaffable ##s [MASK] [SEP] x"];
        string[] pairs = ["Second SENTENCE here.", "and   another\tone"];
        var a = fromJson.EncodeBatch(texts, pairs, new Finetune.Tokenizers.EncodeOptions());
        var b = fromVocab.EncodeBatch(texts, pairs, new Finetune.Tokenizers.EncodeOptions());
        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(b[i].InputIds, a[i].InputIds);
            Assert.Equal(b[i].TokenTypeIds, a[i].TokenTypeIds);
        }
        Assert.Equal(101, a[0].InputIds[0]);
    }
}
