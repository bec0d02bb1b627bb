using Finetune.Onnx;

namespace Finetune.Tests.Weights.Onnx;

/// <summary>
/// Small hand-built graphs for the naming rules the exported models do not reach: a shared layer whose folded
/// transpose an exporter wrote once per use, and an embedded config of a family the import does not know.
/// </summary>
public class OnnxNamingTests
{
    /// <summary>x · W1 + b and h · W2 + b: two [in, out] copies of one Linear applied twice (ALBERT's shared layers).</summary>
    private static MemoryStream SharedLayer(float[] second, string? config = null)
    {
        var g = new OnnxGraphBuilder("shared");
        string x = g.Input("x", "batch", 2);
        string h = g.Node("Add", [g.Node("MatMul", [x, g.Initializer("onnx::MatMul_1", [1f, 2f, 3f, 4f], 2, 2)]), g.Initializer("layer.dense.bias", [0.5f, -0.5f], 2)]);
        string y = g.Node("Add", [g.Node("MatMul", [h, g.Initializer("onnx::MatMul_2", second, 2, 2)]), "layer.dense.bias"]);
        g.Output(y, "y", "batch", 2);
        if (config != null) g.Metadata(OnnxExport.ConfigMetadataKey, config);
        var s = new MemoryStream();
        g.Write(s, "test");
        s.Position = 0;
        return s;
    }

    [Fact]
    public void TwoEqualCopiesOfASharedWeightNameOneWeight()
    {
        using var file = OnnxFile.Load(SharedLayer([1f, 2f, 3f, 4f]), "shared.onnx");
        var weights = OnnxWeightNaming.Name(file);
        var dense = Assert.Single(weights, w => w.Name == "layer.dense.weight");
        Assert.Equal("onnx::MatMul_1", dense.Tensor.Name);
        Assert.True(dense.Transpose);
        Assert.Single(weights, w => w.Name == "layer.dense.bias");
        Assert.Equal(2, weights.Count);
    }

    [Fact]
    public void TwoDifferentWeightsUnderOneNameAreRefusedNamingTheFile()
    {
        using var file = OnnxFile.Load(SharedLayer([1f, 2f, 3f, 5f]), "clash.onnx");
        var e = Assert.Throws<FinetuneException>(() => OnnxWeightNaming.Name(file));
        Assert.Equal(3, e.ExitCode);
        Assert.Contains("clash.onnx", e.Message);
        Assert.Contains("'layer.dense.weight'", e.Message);
        Assert.Contains("'onnx::MatMul_2'", e.Message);
    }

    [Fact]
    public void AnEmbeddedConfigOfAnUnknownFamilyIsUnsupported()
    {
        var e = Assert.Throws<FinetuneException>(() =>
        {
            using var source = OnnxTensorSource.Load(SharedLayer([1f, 2f, 3f, 4f], """{"model_type": "gpt2"}"""), "gpt2.onnx");
        });
        Assert.Equal(7, e.ExitCode);
        Assert.Contains("gpt2.onnx", e.Message);
        Assert.Contains("'gpt2'", e.Message);
    }

    [Fact]
    public void AGraphOfNoKnownFamilyIsInvalidNamingTheFile()
    {
        var e = Assert.Throws<FinetuneException>(() =>
        {
            using var source = OnnxTensorSource.Load(SharedLayer([1f, 2f, 3f, 4f]), "mlp.onnx");
        });
        Assert.Equal(3, e.ExitCode);
        Assert.Contains("mlp.onnx", e.Message);
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
    }
}
