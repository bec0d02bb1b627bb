using System.Globalization;
using System.Text.Json.Nodes;
using Finetune.Models.Bert;

namespace Finetune.Weights.Onnx;

/// <summary>
/// Infers BERT's config.json from a graph: sizes from the named weights' shapes, num_attention_heads from the
/// attention Reshape's [batch, seq, heads, head_dim] constants (else from the 1/sqrt(head_dim) score scale),
/// layer_norm_eps from LayerNormalization's epsilon (else the decomposed form's Add before Sqrt), hidden_act
/// from the activation ops. Checks that the named weights are exactly BertModel's, with its shapes.
/// </summary>
internal static class OnnxBertConfig
{
    public static BertConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> weights)
    {
        int[] word = ShapeOf(file, weights, "embeddings.word_embeddings.weight", 2);
        int vocab = word[0], hidden = word[1];
        int positions = ShapeOf(file, weights, "embeddings.position_embeddings.weight", 2)[0];
        int types = weights.ContainsKey("embeddings.token_type_embeddings.weight") ? ShapeOf(file, weights, "embeddings.token_type_embeddings.weight", 2)[0] : 0;
        int layers = 0;
        while (weights.ContainsKey($"encoder.layer.{layers}.attention.self.query.bias")) layers++;
        if (layers == 0) throw file.Error("the graph has no encoder layer (no initializer 'encoder.layer.0.attention.self.query.bias'): not a BERT encoder export");
        int intermediate = ShapeOf(file, weights, "encoder.layer.0.intermediate.dense.bias", 1)[0];
        int heads = InferHeads(file, hidden);
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("BertModel"),
            ["model_type"] = "bert",
            ["vocab_size"] = vocab,
            ["hidden_size"] = hidden,
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads,
            ["intermediate_size"] = intermediate,
            ["max_position_embeddings"] = positions,
            ["type_vocab_size"] = types,
            ["layer_norm_eps"] = InferEpsilon(file),
            ["hidden_act"] = InferActivation(file),
            ["attention_probs_dropout_prob"] = 0.1,
            ["hidden_dropout_prob"] = 0.1,
            ["initializer_range"] = 0.02,
            ["pad_token_id"] = 0,
            ["position_embedding_type"] = "absolute",
            ["classifier_dropout"] = null,
            ["use_cache"] = true,
        };
        return new BertConfig(json);
    }

    /// <summary>BertModel's parameter names and shapes for <paramref name="c"/> (bare encoder keys, no "bert." prefix).</summary>
    public static List<(string Name, int[] Shape)> Expected(BertConfig c, bool pooler)
    {
        int h = c.HiddenSize, i = c.IntermediateSize;
        var list = new List<(string, int[])>
        {
            ("embeddings.word_embeddings.weight", [c.VocabSize, h]),
            ("embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, h]),
        };
        if (c.TypeVocabSize > 0) list.Add(("embeddings.token_type_embeddings.weight", [c.TypeVocabSize, h]));
        list.Add(("embeddings.LayerNorm.weight", [h]));
        list.Add(("embeddings.LayerNorm.bias", [h]));
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (string m in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                list.Add((p + m + ".weight", [h, h]));
                list.Add((p + m + ".bias", [h]));
            }
            list.Add((p + "attention.output.LayerNorm.weight", [h]));
            list.Add((p + "attention.output.LayerNorm.bias", [h]));
            list.Add((p + "intermediate.dense.weight", [i, h]));
            list.Add((p + "intermediate.dense.bias", [i]));
            list.Add((p + "output.dense.weight", [h, i]));
            list.Add((p + "output.dense.bias", [h]));
            list.Add((p + "output.LayerNorm.weight", [h]));
            list.Add((p + "output.LayerNorm.bias", [h]));
        }
        if (pooler)
        {
            list.Add(("pooler.dense.weight", [h, h]));
            list.Add(("pooler.dense.bias", [h]));
        }
        return list;
    }

    private static int[] ShapeOf(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> weights, string name, int rank)
    {
        if (!weights.TryGetValue(name, out var w))
            throw file.Error($"the graph has no initializer '{name}': not a BERT encoder export");
        int[] shape = w.Shape;
        if (shape.Length != rank || Array.IndexOf(shape, 0) >= 0) throw file.Error($"initializer '{w.Tensor.Name}' ({name}) has shape {w.Tensor.ShapeText}");
        return shape;
    }

    private static int InferHeads(OnnxFile file, int hidden)
    {
        var g = file.Graph;
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Reshape" || node.Inputs.Count < 2) continue;
            // The reshape of a query/key/value projection: its data comes from the Add of that bias.
            if (g.Producer(node.Inputs[0]) is not { OpType: "Add" } add || !add.Inputs.Exists(i => i.EndsWith(".attention.self.key.bias", StringComparison.Ordinal)
                || i.EndsWith(".attention.self.query.bias", StringComparison.Ordinal) || i.EndsWith(".attention.self.value.bias", StringComparison.Ordinal)))
                continue;
            var values = ShapeValues(file, node.Inputs[1]);
            if (values.Count >= 2)
            {
                long heads = values[^2], dim = values[^1];
                if (heads > 0 && dim > 0 && heads * dim == hidden) return (int)heads;
            }
        }
        // Fallback: attention scores MatMul(q, kᵀ) divided by sqrt(head_dim) (or multiplied by its inverse).
        foreach (var node in g.Nodes)
        {
            if (node.OpType is not ("Div" or "Mul") || node.Inputs.Count != 2) continue;
            if (g.Producer(node.Inputs[0]) is not { OpType: "MatMul" } mm || g.Initializer(mm.Inputs[1]) != null || g.Producer(mm.Inputs[1]) is { OpType: "Transpose" } t && g.Initializer(t.Inputs[0]) != null)
                continue;
            if (g.Constant(node.Inputs[1]) is not { ElementCount: 1 } c || c.DType is not { } dt || !dt.IsFloat()) continue;
            double v = file.ReadFloat(c)[0];
            double headDim = node.OpType == "Div" ? v * v : 1 / (v * v);
            long d = (long)Math.Round(headDim);
            if (d > 0 && Math.Abs(headDim - d) < 1e-3 * d && hidden % d == 0) return (int)(hidden / d);
        }
        throw file.Error("num_attention_heads cannot be inferred (no attention Reshape with constant [heads, head_dim] and no 1/sqrt(head_dim) scale); pass a config.json");
    }

    /// <summary>The constant values of a shape input: a constant tensor, or a Concat whose constant parts are read (dynamic parts skipped).</summary>
    private static List<long> ShapeValues(OnnxFile file, string name)
    {
        var g = file.Graph;
        var values = new List<long>();
        if (g.Constant(name) is { } c && c.DType is { } dt && !dt.IsFloat()) values.AddRange(file.ReadInt64(c));
        else if (g.Producer(name) is { OpType: "Concat" } concat)
            foreach (string part in concat.Inputs)
                if (g.Constant(part) is { } pc && pc.DType is { } pdt && !pdt.IsFloat() && pc.ElementCount <= 8) values.AddRange(file.ReadInt64(pc));
        return values;
    }

    private static double InferEpsilon(OnnxFile file)
    {
        var g = file.Graph;
        foreach (var node in g.Nodes)
            if (node.OpType == "LayerNormalization") return Shortest(node.FloatAttribute("epsilon", 1e-5f));
        // Decomposed: (x - mean) / Sqrt(ReduceMean(..) + eps).
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Sqrt" || g.Producer(node.Inputs[0]) is not { OpType: "Add" } add || add.Inputs.Count != 2) continue;
            if (g.Producer(add.Inputs[0]) is not { OpType: "ReduceMean" }) continue;
            if (g.Constant(add.Inputs[1]) is { ElementCount: 1 } c && c.DType is { } dt && dt.IsFloat()) return Shortest(file.ReadFloat(c)[0]);
        }
        throw file.Error("layer_norm_eps cannot be inferred (no LayerNormalization node and no decomposed layer norm); pass a config.json");
    }

    /// <summary>The float32 epsilon as the shortest decimal that rounds to it (1e-12, not 9.99999996e-13), as config.json writes it.</summary>
    private static double Shortest(float f) => double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string InferActivation(OnnxFile file)
    {
        bool tanh = false;
        foreach (var node in file.Graph.Nodes)
        {
            if (node.OpType == "Erf") return "gelu";
            if (node.OpType == "Gelu") return node.Attributes.TryGetValue("approximate", out var a) && a.S == "tanh" ? "gelu_new" : "gelu";
            if (node.OpType == "FastGelu") return "gelu_new";
            if (node.OpType == "Relu") return "relu";
            tanh |= node.OpType == "Tanh" && !node.Outputs.Exists(o => file.Graph.Outputs.Contains(o));
        }
        if (tanh) return "gelu_new";
        throw file.Error("hidden_act cannot be inferred (no Erf, Gelu, Tanh or Relu node); pass a config.json");
    }
}
