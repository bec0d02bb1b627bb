using System.Text.Json.Nodes;
using Finetune.Models.DistilBert;
using Finetune.Tensors;

namespace Finetune.Tests.Models;

public class DistilBertSinusoidTests
{
    [Fact]
    public void SinusoidalPositionsAreAFixedSinCosTable()
    {
        var config = new DistilBertConfig(new JsonObject { ["dim"] = 8, ["n_heads"] = 2, ["n_layers"] = 1, ["hidden_dim"] = 16, ["vocab_size"] = 20, ["max_position_embeddings"] = 4, ["sinusoidal_pos_embds"] = true });
        var model = new DistilBertModel(config, new Generator(1));
        var table = model.Embeddings.PositionEmbeddings.Weight;
        Assert.False(table.RequiresGrad);
        // position 3, columns 2 and 3: sin / cos of 3 / 10000^(2/8)
        double angle = 3 / Math.Pow(10000, 2.0 / 8);
        Assert.Equal(Math.Sin(angle), table.Span[3 * 8 + 2], tolerance: 1e-6);
        Assert.Equal(Math.Cos(angle), table.Span[3 * 8 + 3], tolerance: 1e-6);
        Assert.Equal(0f, table.Span[0]);
        Assert.Equal(1f, table.Span[1]);
    }
}
