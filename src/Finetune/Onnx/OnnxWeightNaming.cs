using Finetune.Weights;

namespace Finetune.Onnx;

/// <summary>One Hugging Face weight found in an ONNX graph: the initializer holding it, and whether it is stored [in, out].</summary>
internal readonly record struct OnnxWeight(string Name, OnnxTensor Tensor, bool Transpose)
{
    /// <summary>The shape in Hugging Face's layout ([out, in] for a dense weight).</summary>
    public int[] Shape => Transpose ? [Tensor.Shape[1], Tensor.Shape[0]] : Tensor.Shape;
}

/// <summary>
/// Names the weights of an encoder export under the graph's own module paths (prefix included). torch.onnx keeps the names of embeddings, biases and LayerNorm parameters,
/// but folds each dense weight's transpose into a new anonymous initializer ("927", "onnx::MatMul_788") stored
/// [in, out] and consumed by MatMul(x, W), whose output feeds Add with the named bias "X.bias": that weight is
/// "X.weight", transposed back to [out, in]. Linear layers on 2-D inputs (the pooler) export as Gemm(x, W, b)
/// instead, where transB=1 means W is already [out, in]. A weight shared by several layers (ALBERT's groups) is
/// consumed by several MatMuls: it is named once.
/// </summary>
internal static class OnnxWeightNaming
{
    public static List<OnnxWeight> Name(OnnxFile file)
    {
        var graph = file.Graph;
        var weights = new List<OnnxWeight>();
        var named = new HashSet<OnnxTensor>(ReferenceEqualityComparer.Instance);
        foreach (var node in graph.Nodes)
        {
            if (node.OpType == "MatMul" && node.Inputs.Count == 2) NameMatMul(file, node, weights, named);
            else if (node.OpType == "Gemm" && node.Inputs.Count == 3) NameGemm(file, node, weights, named);
        }
        // Named initializers that are parameters: every float tensor whose name reads like a module path.
        foreach (var t in graph.Initializers)
        {
            if (named.Contains(t) || t.DType is not { } dt || !dt.IsFloat()) continue;
            if (!IsParameterName(t.Name)) continue;
            weights.Add(new OnnxWeight(t.Name, t, false));
            named.Add(t);
        }
        var unique = new List<OnnxWeight>(weights.Count);
        var seen = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        foreach (var w in weights)
        {
            if (!seen.TryGetValue(w.Name, out var first))
            {
                seen[w.Name] = w;
                unique.Add(w);
            }
            else if (!SameValues(file, first, w))
            {
                throw file.Error($"two initializers map to weight '{w.Name}' (the second is '{w.Tensor.Name}')");
            }
        }
        return unique;
    }

    private static void NameMatMul(OnnxFile file, OnnxNode node, List<OnnxWeight> weights, HashSet<OnnxTensor> named)
    {
        var graph = file.Graph;
        // The weight is the second input: an initializer stored [in, out], or a Transpose of a named [out, in] one.
        OnnxTensor? w = graph.Initializer(node.Inputs[1]);
        bool transpose = true;
        if (w == null && graph.Producer(node.Inputs[1]) is { OpType: "Transpose" } tr && tr.Inputs.Count == 1 && graph.Initializer(tr.Inputs[0]) is { } inner)
        {
            w = inner;
            transpose = false;
        }
        if (w == null) return; // an activation times an activation (attention scores): no weight here
        if (node.Outputs.Count == 0) throw file.Error($"{node.Display} consuming initializer '{w.Name}' has no output");
        if (w.Shape.Length != 2) throw file.Error($"initializer '{w.Name}' consumed by {node.Display} has shape {w.ShapeText}, not a 2-D dense weight");
        string? bias = BiasOf(graph, node.Outputs[0]);
        if (bias == null || !bias.EndsWith(".bias", StringComparison.Ordinal))
            throw file.Error($"initializer '{w.Name}' {w.ShapeText} consumed by {node.Display} cannot be named: the MatMul's output does not feed an Add with a named '.bias' initializer");
        Add(file, weights, named, new OnnxWeight(bias[..^".bias".Length] + ".weight", w, transpose), node, bias);
    }

    private static void NameGemm(OnnxFile file, OnnxNode node, List<OnnxWeight> weights, HashSet<OnnxTensor> named)
    {
        var graph = file.Graph;
        OnnxTensor? w = graph.Initializer(node.Inputs[1]);
        if (w == null) return;
        if (w.Shape.Length != 2) throw file.Error($"initializer '{w.Name}' consumed by {node.Display} has shape {w.ShapeText}, not a 2-D dense weight");
        if (node.IntAttribute("transA", 0) != 0 || node.FloatAttribute("alpha", 1f) != 1f || node.FloatAttribute("beta", 1f) != 1f)
            throw file.Error($"{node.Display} has transA/alpha/beta other than 0/1/1, which a Linear layer does not export");
        string bias = node.Inputs[2];
        if (graph.Initializer(bias) == null || !bias.EndsWith(".bias", StringComparison.Ordinal))
            throw file.Error($"initializer '{w.Name}' {w.ShapeText} consumed by {node.Display} cannot be named: its bias input '{bias}' is not a named '.bias' initializer");
        // Gemm computes A·B' with B' = transB ? Bᵀ : B: with transB=1, B is already Linear's [out, in].
        bool transpose = node.IntAttribute("transB", 0) == 0;
        Add(file, weights, named, new OnnxWeight(bias[..^".bias".Length] + ".weight", w, transpose), node, bias);
    }

    private static void Add(OnnxFile file, List<OnnxWeight> weights, HashSet<OnnxTensor> named, OnnxWeight weight, OnnxNode node, string bias)
    {
        if (named.Contains(weight.Tensor) && weights.Exists(w => ReferenceEquals(w.Tensor, weight.Tensor) && w.Name == weight.Name && w.Transpose == weight.Transpose))
            return; // a shared layer applied again
        var biasTensor = file.Graph.Initializer(bias)!;
        if (biasTensor.Shape.Length != 1 || biasTensor.Shape[0] != weight.Shape[0])
            throw file.Error($"initializer '{weight.Tensor.Name}' consumed by {node.Display} has {weight.Shape[0]} outputs but its bias '{bias}' has shape {biasTensor.ShapeText}");
        weights.Add(weight);
        named.Add(weight.Tensor);
    }

    /// <summary>The named bias added to <paramref name="output"/> by its only consumer, an Add (either operand order).</summary>
    private static string? BiasOf(OnnxGraph graph, string output)
    {
        var consumers = graph.Consumers(output);
        if (consumers.Count != 1 || consumers[0] is not { OpType: "Add" } add || add.Inputs.Count != 2) return null;
        string other = add.Inputs[0] == output ? add.Inputs[1] : add.Inputs[0];
        return graph.Initializer(other) != null ? other : null;
    }

    /// <summary>Two copies of one shared weight (an exporter may fold a shared layer's transpose once per use).</summary>
    private static bool SameValues(OnnxFile file, OnnxWeight a, OnnxWeight b) =>
        a.Transpose == b.Transpose && a.Tensor.Shape.AsSpan().SequenceEqual(b.Tensor.Shape) && file.ReadFloat(a.Tensor).AsSpan().SequenceEqual(file.ReadFloat(b.Tensor));

    /// <summary>"embeddings.LayerNorm.weight", "pooler.dense.bias": dotted paths ending in weight or bias.</summary>
    private static bool IsParameterName(string name) =>
        name.Contains('.') && !name.StartsWith("onnx::", StringComparison.Ordinal) &&
        (name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal));
}
