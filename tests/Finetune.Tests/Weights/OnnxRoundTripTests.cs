using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tensors;
using Finetune.Weights.Onnx;

namespace Finetune.Tests.Weights;

/// <summary>
/// Export → import: a BERT encoder written by <see cref="OnnxExport"/> reads back through the ONNX import
/// (<see cref="OnnxTensorSource"/>, which names torch.onnx-style graphs) with every tensor bit-identical and the
/// config's shape recovered from the graph. The import reads BERT graphs only, so the other families are checked
/// against ONNX Runtime (OnnxExportTests) but not round-tripped.
/// </summary>
public class OnnxRoundTripTests
{
    [Fact]
    public void AnExportedBertImportsBackWithIdenticalTensors()
    {
        var config = (BertConfig)OnnxExportTests.MakeConfig("bert");
        var model = AutoModel.FromConfig(config, new Generator(12));
        using var tmp = new TempDir();
        string path = tmp.File("bert.onnx");
        OnnxExport.Export(model, path);
        using var source = OnnxTensorSource.Open(path);
        Assert.Equal(config.HiddenSize, source.Config.HiddenSize);
        Assert.Equal(config.NumHiddenLayers, source.Config.NumHiddenLayers);
        Assert.Equal(config.NumAttentionHeads, source.Config.NumAttentionHeads);
        Assert.Equal(config.IntermediateSize, source.Config.IntermediateSize);
        Assert.Equal(config.LayerNormEps, source.Config.LayerNormEps);
        int count = 0;
        foreach (var (name, t) in model.NamedParameters())
        {
            Assert.True(source.Contains(name), $"the import does not find {name}");
            Assert.Equal(t.Shape, source.Info(name).Shape);
            var back = new float[t.Span.Length];
            source.CopyTo(name, back);
            Assert.True(t.Span.SequenceEqual(back), $"{name} differs after the round trip");
            count++;
        }
        Assert.Equal(count, source.Names.Count);
    }
}
