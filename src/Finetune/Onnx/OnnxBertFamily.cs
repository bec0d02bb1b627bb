using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;

namespace Finetune.Onnx;

/// <summary>
/// BERT: embeddings, encoder.layer.{i} (attention.self.query/key/value, attention.output, intermediate, output),
/// an optional pooler.dense; the classifier is pooler → classifier. The layout RoBERTa and ELECTRA reuse, and the
/// fallback when no more specific family recognises a graph.
/// </summary>
internal class OnnxBertFamily : OnnxFamily
{
    protected const string Query0Bias = "encoder.layer.0.attention.self.query.bias";

    public override string Prefix => "bert";
    public override string ClassStem => "Bert";
    public override string LabelsWeight => "classifier.weight";
    public override string? PoolerWeight => "pooler.dense.weight";

    public override bool Recognises(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare) => true;

    public override PretrainedConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare) => Make("bert", "BertModel", BertFields(file, bare));

    /// <summary>BertConfig's fields as transformers writes them for a BertModel, sizes from the weight shapes.</summary>
    protected JsonObject BertFields(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare)
    {
        int[] word = ShapeOf(file, bare, "embeddings.word_embeddings.weight", 2);
        int positions = ShapeOf(file, bare, "embeddings.position_embeddings.weight", 2)[0];
        int types = bare.ContainsKey("embeddings.token_type_embeddings.weight") ? ShapeOf(file, bare, "embeddings.token_type_embeddings.weight", 2)[0] : 0;
        int layers = Count(bare, "encoder.layer.", ".attention.self.query.bias");
        if (layers == 0) throw file.Error($"the graph has no encoder layer (no initializer '{Query0Bias}'): not a {ClassStem} encoder export");
        int hidden = ShapeOf(file, bare, Query0Bias, 1)[0];
        int intermediate = ShapeOf(file, bare, "encoder.layer.0.intermediate.dense.bias", 1)[0];
        return new JsonObject
        {
            ["vocab_size"] = word[0],
            ["hidden_size"] = hidden,
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = OnnxGraphFacts.Heads(file, hidden),
            ["intermediate_size"] = intermediate,
            ["max_position_embeddings"] = positions,
            ["type_vocab_size"] = types,
            ["layer_norm_eps"] = OnnxGraphFacts.Epsilon(file),
            ["hidden_act"] = OnnxGraphFacts.Activation(file),
            ["attention_probs_dropout_prob"] = 0.1,
            ["hidden_dropout_prob"] = 0.1,
            ["initializer_range"] = 0.02,
            ["pad_token_id"] = 0,
            ["position_embedding_type"] = "absolute",
            ["classifier_dropout"] = null,
            ["use_cache"] = true,
        };
    }

    public override List<(string Name, int[] Shape)> Encoder(PretrainedConfig config, bool pooler)
    {
        var c = (BertConfig)config;
        int h = c.HiddenSize, i = c.IntermediateSize, e = c.EmbeddingWidth;
        var list = new List<(string, int[])>
        {
            ("embeddings.word_embeddings.weight", [c.VocabSize, e]),
            ("embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, e]),
        };
        if (c.TypeVocabSize > 0) list.Add(("embeddings.token_type_embeddings.weight", [c.TypeVocabSize, e]));
        Norm(list, "embeddings.LayerNorm", e);
        AfterEmbeddings(c, list);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (string m in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
                Linear(list, p + m, h, h);
            Norm(list, p + "attention.output.LayerNorm", h);
            Linear(list, p + "intermediate.dense", h, i);
            Linear(list, p + "output.dense", i, h);
            Norm(list, p + "output.LayerNorm", h);
        }
        if (pooler) Linear(list, "pooler.dense", h, h);
        return list;
    }

    /// <summary>Layers between the embeddings and the encoder (ELECTRA's projection).</summary>
    protected virtual void AfterEmbeddings(BertConfig c, List<(string, int[])> list)
    {
    }

    public override List<(string Name, int[] Shape)> Head(PretrainedConfig config)
    {
        var list = new List<(string, int[])>();
        Linear(list, "classifier", ((BertConfig)config).HiddenSize, config.NumLabels);
        return list;
    }

    /// <summary>The head RoBERTa and ELECTRA share (their ClassificationHead): classifier.dense → out_proj.</summary>
    protected static List<(string Name, int[] Shape)> DenseOutProjHead(PretrainedConfig config)
    {
        int h = ((BertConfig)config).HiddenSize;
        var list = new List<(string, int[])>();
        Linear(list, "classifier.dense", h, h);
        Linear(list, "classifier.out_proj", h, config.NumLabels);
        return list;
    }
}
