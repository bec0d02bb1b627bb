using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Tests.Nn;

public class ModuleTests
{
    private sealed class SelfAttention : Module
    {
        public SelfAttention()
        {
            Query = Register("query", new Linear(4, 4));
            Key = Register("key", new Linear(4, 4, bias: false));
        }

        public Linear Query { get; }
        public Linear Key { get; }
    }

    private sealed class Layer : Module
    {
        public Layer()
        {
            Register("attention", new SelfAttention());
            Register("LayerNorm", new LayerNorm(4, 1e-12f));
            Register("dropout", new Dropout(0.1f));
        }
    }

    private sealed class Encoder : Module
    {
        public Encoder(int n, bool share)
        {
            var shared = new Layer();
            var list = new ModuleList<Layer>();
            for (int i = 0; i < n; i++) list.Add(share ? shared : new Layer());
            Register("layer", list);
        }
    }

    private sealed class Model : Module
    {
        public Model(bool share = false)
        {
            Register("embeddings", new Embedding(10, 4, paddingIdx: 0));
            Register("encoder", new Encoder(2, share));
            Bias = Parameter("bias", 3);
        }

        public Tensor Bias { get; }
    }

    [Fact]
    public void NamedParametersUsePyTorchDottedNames()
    {
        var names = new Model().NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(new[]
        {
            "bias",
            "embeddings.weight",
            "encoder.layer.0.attention.query.weight", "encoder.layer.0.attention.query.bias",
            "encoder.layer.0.attention.key.weight",
            "encoder.layer.0.LayerNorm.weight", "encoder.layer.0.LayerNorm.bias",
            "encoder.layer.1.attention.query.weight", "encoder.layer.1.attention.query.bias",
            "encoder.layer.1.attention.key.weight",
            "encoder.layer.1.LayerNorm.weight", "encoder.layer.1.LayerNorm.bias",
        }, names);
    }

    [Fact]
    public void SharedModulesAreListedOnceLikeTorch()
    {
        var m = new Model(share: true);
        Assert.Equal(7, m.NamedParameters().Count());
        Assert.DoesNotContain(m.NamedModules(), x => x.Name.StartsWith("encoder.layer.1", StringComparison.Ordinal));
    }

    [Fact]
    public void NamedModulesExposeTypesForWeightDecayGrouping()
    {
        var m = new Model();
        var mods = m.NamedModules().ToList();
        Assert.Equal("", mods[0].Name);
        Assert.Contains(mods, x => x.Name == "encoder.layer.1.LayerNorm" && x.Module is LayerNorm);
        Assert.Contains(mods, x => x.Name == "encoder.layer" && x.Module is ModuleList<Layer>);
    }

    [Fact]
    public void TrainAndEvalPropagateToChildren()
    {
        var m = new Model();
        Assert.True(m.Training);
        m.Eval();
        Assert.All(m.NamedModules(), x => Assert.False(x.Module.Training));
        m.Train();
        Assert.All(m.NamedModules(), x => Assert.True(x.Module.Training));
    }

    [Fact]
    public void ParametersRequireGradAndLayersHaveCheckpointLayouts()
    {
        var lin = new Linear(3, 5);
        Assert.Equal(new[] { 5, 3 }, lin.Weight.Shape);
        Assert.Equal(new[] { 5 }, lin.Bias!.Shape);
        Assert.All(lin.Parameters(), p => Assert.True(p.RequiresGrad));
        var emb = new Embedding(6, 2, paddingIdx: 1);
        Assert.Equal(new[] { 0f, 0f }, emb.Weight.Span.Slice(2, 2).ToArray());
        var ln = new LayerNorm(3);
        Assert.Equal(new[] { 1f, 1f, 1f }, ln.Weight.ToArray());
        Assert.Equal(new[] { 0f, 0f, 0f }, ln.Bias.ToArray());
    }

    [Fact]
    public void ZeroGradClearsEveryParameter()
    {
        var lin = new Linear(3, 2);
        var x = Tensor.FromArray([1f, 2f, 3f], 1, 3);
        F.Sum(lin.Forward(x)).Backward();
        Assert.NotNull(lin.Weight.Grad);
        Assert.Equal(new[] { 1f, 2f, 3f, 1f, 2f, 3f }, lin.Weight.Grad!.ToArray());
        Assert.Equal(new[] { 1f, 1f }, lin.Bias!.Grad!.ToArray());
        lin.ZeroGrad();
        Assert.All(lin.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void DropoutModuleIsIdentityInEval()
    {
        var d = new Dropout(0.5f, new Generator(1));
        var x = Tensor.Ones(50);
        d.Eval();
        Assert.Same(x, d.Forward(x));
        d.Train();
        Assert.Contains(0f, d.Forward(x).ToArray());
    }

    [Fact]
    public void DuplicateNamesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new Dup());
    }

    private sealed class Dup : Module
    {
        public Dup()
        {
            Parameter("w", 2);
            Parameter("w", 2);
        }
    }
}
