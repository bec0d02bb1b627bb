using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Albert;

namespace Finetune.Onnx;

/// <summary>
/// ALBERT: embeddings of embedding_size mapped to hidden_size by encoder.embedding_hidden_mapping_in, then
/// num_hidden_groups groups of inner_group_num layers shared across num_hidden_layers applications (the graph
/// reads a group's initializers once per application, which is how the layer count is found); pooler is a bare
/// Linear; the head is pooler → classifier.
/// </summary>
internal sealed class OnnxAlbertFamily : OnnxFamily
{
    private const string Mapping = "encoder.embedding_hidden_mapping_in";

    public override string Prefix => "albert";
    public override string ClassStem => "Albert";
    public override string LabelsWeight => "classifier.weight";
    public override string? PoolerWeight => "pooler.weight";

    public override bool Recognises(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare) => bare.ContainsKey(Mapping + ".bias");

    private static string Layer(int group, int inner) => $"encoder.albert_layer_groups.{group}.albert_layers.{inner}.";

    public override PretrainedConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare)
    {
        int[] word = ShapeOf(file, bare, "embeddings.word_embeddings.weight", 2);
        int positions = ShapeOf(file, bare, "embeddings.position_embeddings.weight", 2)[0];
        int types = bare.ContainsKey("embeddings.token_type_embeddings.weight") ? ShapeOf(file, bare, "embeddings.token_type_embeddings.weight", 2)[0] : 0;
        int hidden = ShapeOf(file, bare, Mapping + ".bias", 1)[0];
        int groups = Count(bare, "encoder.albert_layer_groups.", ".albert_layers.0.attention.query.bias");
        if (groups == 0) throw file.Error($"the graph has no ALBERT layer (no initializer '{Layer(0, 0)}attention.query.bias')");
        int inner = Count(bare, "encoder.albert_layer_groups.0.albert_layers.", ".attention.query.bias");
        int layers = 0;
        for (int g = 0; g < groups; g++) layers += OnnxGraphFacts.Uses(file, bare[Layer(g, 0) + "attention.query.bias"].Tensor);
        var fields = new JsonObject
        {
            ["vocab_size"] = word[0],
            ["embedding_size"] = word[1],
            ["hidden_size"] = hidden,
            ["num_hidden_layers"] = layers,
            ["num_hidden_groups"] = groups,
            ["inner_group_num"] = inner,
            ["num_attention_heads"] = OnnxGraphFacts.Heads(file, hidden),
            ["intermediate_size"] = ShapeOf(file, bare, Layer(0, 0) + "ffn.bias", 1)[0],
            ["max_position_embeddings"] = positions,
            ["type_vocab_size"] = types,
            ["layer_norm_eps"] = OnnxGraphFacts.Epsilon(file),
            ["hidden_act"] = OnnxGraphFacts.Activation(file),
            ["position_embedding_type"] = "absolute",
        };
        return Make("albert", "AlbertModel", fields);
    }

    public override List<(string Name, int[] Shape)> Encoder(PretrainedConfig config, bool pooler)
    {
        var c = (AlbertConfig)config;
        int h = c.HiddenSize, e = c.EmbeddingSize;
        var list = new List<(string, int[])>
        {
            ("embeddings.word_embeddings.weight", [c.VocabSize, e]),
            ("embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, e]),
        };
        if (c.TypeVocabSize > 0) list.Add(("embeddings.token_type_embeddings.weight", [c.TypeVocabSize, e]));
        Norm(list, "embeddings.LayerNorm", e);
        Linear(list, Mapping, e, h);
        for (int g = 0; g < c.NumHiddenGroups; g++)
            for (int i = 0; i < c.InnerGroupNum; i++)
            {
                string p = Layer(g, i);
                foreach (string m in new[] { "attention.query", "attention.key", "attention.value", "attention.dense" })
                    Linear(list, p + m, h, h);
                Norm(list, p + "attention.LayerNorm", h);
                Linear(list, p + "ffn", h, c.IntermediateSize);
                Linear(list, p + "ffn_output", c.IntermediateSize, h);
                Norm(list, p + "full_layer_layer_norm", h);
            }
        if (pooler) Linear(list, "pooler", h, h);
        return list;
    }

    public override List<(string Name, int[] Shape)> Head(PretrainedConfig config)
    {
        var list = new List<(string, int[])>();
        Linear(list, "classifier", ((AlbertConfig)config).HiddenSize, config.NumLabels);
        return list;
    }
}
