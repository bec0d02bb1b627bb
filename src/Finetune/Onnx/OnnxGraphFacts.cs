using System.Globalization;
using Finetune.Weights;

namespace Finetune.Onnx;

/// <summary>
/// Config fields read from a graph's structure rather than its weight shapes, the same for every family:
/// num_attention_heads from the attention Reshape's [batch, seq, heads, head_dim] constants (else from the
/// 1/sqrt(head_dim) score scale), the layer-norm epsilon from LayerNormalization (else the decomposed form's Add
/// before Sqrt), the activation from the activation ops.
/// </summary>
internal static class OnnxGraphFacts
{
    /// <summary>The bias of a query, key or value projection (BERT's attention.self.query, ALBERT's attention.query, DistilBERT's q_lin).</summary>
    private static bool IsProjectionBias(string name) =>
        name.EndsWith("query.bias", StringComparison.Ordinal) || name.EndsWith("key.bias", StringComparison.Ordinal) || name.EndsWith("value.bias", StringComparison.Ordinal)
        || name.EndsWith("q_lin.bias", StringComparison.Ordinal) || name.EndsWith("k_lin.bias", StringComparison.Ordinal) || name.EndsWith("v_lin.bias", StringComparison.Ordinal);

    public static int Heads(OnnxFile file, int hidden)
    {
        var g = file.Graph;
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Reshape" || node.Inputs.Count < 2) continue;
            // The reshape of a query/key/value projection: its data comes from the Add of that bias.
            if (g.Producer(node.Inputs[0]) is not { OpType: "Add" } add || !add.Inputs.Exists(IsProjectionBias)) continue;
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
            if (g.Producer(node.Inputs[0]) is not { OpType: "MatMul" } mm || mm.Inputs.Count != 2 || g.Initializer(mm.Inputs[1]) != null || g.Producer(mm.Inputs[1]) is { OpType: "Transpose" } t && t.Inputs.Count > 0 && g.Initializer(t.Inputs[0]) != null)
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

    public static double Epsilon(OnnxFile file)
    {
        var g = file.Graph;
        foreach (var node in g.Nodes)
            if (node.OpType == "LayerNormalization") return Shortest(node.FloatAttribute("epsilon", 1e-5f));
        // Decomposed: (x - mean) / Sqrt(ReduceMean(..) + eps).
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Sqrt" || node.Inputs.Count == 0 || g.Producer(node.Inputs[0]) is not { OpType: "Add" } add || add.Inputs.Count != 2) continue;
            if (g.Producer(add.Inputs[0]) is not { OpType: "ReduceMean" }) continue;
            if (g.Constant(add.Inputs[1]) is { ElementCount: 1 } c && c.DType is { } dt && dt.IsFloat()) return Shortest(file.ReadFloat(c)[0]);
        }
        throw file.Error("layer_norm_eps cannot be inferred (no LayerNormalization node and no decomposed layer norm); pass a config.json");
    }

    /// <summary>The float32 epsilon as the shortest decimal that rounds to it (1e-12, not 9.99999996e-13), as config.json writes it.</summary>
    private static double Shortest(float f) => double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    public static string Activation(OnnxFile file)
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

    /// <summary>RoBERTa's padding index: the constant compared with input_ids where the positions are counted (ids ≠ pad), if any.</summary>
    public static int? PadCompared(OnnxFile file)
    {
        var g = file.Graph;
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Equal" || node.Inputs.Count != 2 || !node.Inputs.Contains("input_ids")) continue;
            string other = node.Inputs[0] == "input_ids" ? node.Inputs[1] : node.Inputs[0];
            if (g.Constant(other) is { ElementCount: 1 } c && c.DType is { } dt && !dt.IsFloat()) return (int)file.ReadInt64(c)[0];
        }
        return null;
    }

    /// <summary>How many nodes read the initializer <paramref name="tensor"/> (a shared layer's bias: once per application).</summary>
    public static int Uses(OnnxFile file, OnnxTensor tensor) => file.Graph.Consumers(tensor.Name).Count;
}
