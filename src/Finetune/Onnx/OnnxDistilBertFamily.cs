using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.DistilBert;

namespace Finetune.Onnx;

/// <summary>
/// DistilBERT: its own names (embeddings without token types, transformer.layer.{i} with attention.q_lin…out_lin,
/// sa_layer_norm, ffn.lin1/lin2, output_layer_norm) and config fields (dim, n_heads, hidden_dim, n_layers,
/// activation); no pooler; the head is pre_classifier → ReLU → classifier.
/// </summary>
internal sealed class OnnxDistilBertFamily : OnnxFamily
{
    public override string Prefix => "distilbert";
    public override string ClassStem => "DistilBert";
    public override string LabelsWeight => "classifier.weight";

    public override bool Recognises(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare) => bare.ContainsKey("transformer.layer.0.attention.q_lin.bias");

    public override PretrainedConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare)
    {
        int[] word = ShapeOf(file, bare, "embeddings.word_embeddings.weight", 2);
        int layers = Count(bare, "transformer.layer.", ".attention.q_lin.bias");
        if (layers == 0) throw file.Error("the graph has no DistilBERT layer (no initializer 'transformer.layer.0.attention.q_lin.bias')");
        var fields = new JsonObject
        {
            ["vocab_size"] = word[0],
            ["dim"] = word[1],
            ["n_layers"] = layers,
            ["n_heads"] = OnnxGraphFacts.Heads(file, word[1]),
            ["hidden_dim"] = ShapeOf(file, bare, "transformer.layer.0.ffn.lin1.bias", 1)[0],
            ["max_position_embeddings"] = ShapeOf(file, bare, "embeddings.position_embeddings.weight", 2)[0],
            ["activation"] = OnnxGraphFacts.Activation(file),
            ["sinusoidal_pos_embds"] = false,
            ["pad_token_id"] = 0,
        };
        return Make("distilbert", "DistilBertModel", fields);
    }

    public override List<(string Name, int[] Shape)> Encoder(PretrainedConfig config, bool pooler)
    {
        var c = (DistilBertConfig)config;
        int d = c.Dim;
        var list = new List<(string, int[])>
        {
            ("embeddings.word_embeddings.weight", [c.VocabSize, d]),
            ("embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, d]),
        };
        Norm(list, "embeddings.LayerNorm", d);
        for (int l = 0; l < c.NLayers; l++)
        {
            string p = $"transformer.layer.{l}.";
            foreach (string m in new[] { "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin" })
                Linear(list, p + m, d, d);
            Norm(list, p + "sa_layer_norm", d);
            Linear(list, p + "ffn.lin1", d, c.HiddenDim);
            Linear(list, p + "ffn.lin2", c.HiddenDim, d);
            Norm(list, p + "output_layer_norm", d);
        }
        return list;
    }

    public override List<(string Name, int[] Shape)> Head(PretrainedConfig config)
    {
        int d = ((DistilBertConfig)config).Dim;
        var list = new List<(string, int[])>();
        Linear(list, "pre_classifier", d, d);
        Linear(list, "classifier", d, config.NumLabels);
        return list;
    }
}
