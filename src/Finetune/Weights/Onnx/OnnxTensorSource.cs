using Finetune.Models;
using Finetune.Models.Bert;

namespace Finetune.Weights.Onnx;

/// <summary>
/// The weights of a BERT ONNX export (torch.onnx or Optimum) under Hugging Face's BertModel names, dense weights
/// transposed to [out, in]: an <see cref="ITensorSource"/> that <c>PreTrainedModel.LoadWeights</c> reads like a
/// safetensors file. <see cref="Config"/> is the config inferred from the graph (or the one given).
/// </summary>
public sealed class OnnxTensorSource : ITensorSource
{
    private readonly OnnxFile _file;
    private readonly Dictionary<string, OnnxWeight> _weights;
    private readonly List<string> _names;

    private OnnxTensorSource(OnnxFile file, BertConfig? given)
    {
        _file = file;
        var all = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        foreach (var w in OnnxBertNaming.Name(file)) all[w.Name] = w;
        Config = given ?? OnnxBertConfig.Infer(file, all);
        HasPooler = all.ContainsKey("pooler.dense.weight");
        _weights = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        _names = new List<string>();
        var expected = OnnxBertConfig.Expected(Config, HasPooler);
        var expectedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            expectedNames.Add(name);
            if (!all.TryGetValue(name, out var w))
                throw file.Error($"the graph has no weight '{name}', which a BERT encoder with this config needs");
            if (!w.Shape.AsSpan().SequenceEqual(shape))
                throw file.Error($"weight '{name}' (initializer '{w.Tensor.Name}') has shape [{string.Join(", ", w.Shape)}] but the config needs [{string.Join(", ", shape)}]");
            if (w.Tensor.DType is not { } dt || !dt.IsFloat())
                throw file.Error($"weight '{name}' (initializer '{w.Tensor.Name}') is {w.Tensor.DataType}, not floating point");
            _weights[name] = w;
            _names.Add(name);
        }
        foreach (var (name, w) in all)
            if (!expectedNames.Contains(name) && !name.StartsWith("classifier.", StringComparison.Ordinal))
                throw file.Error($"initializer '{w.Tensor.Name}' ({name}) is not a parameter of a BERT encoder: not a BERT export, or a config that does not fit it");
    }

    /// <summary>The ONNX file's path (or "package!resource" name).</summary>
    public string Path => _file.DisplayName;

    /// <summary>The BertModel config: inferred from the graph, or the one given to Open/Load.</summary>
    public BertConfig Config { get; }

    /// <summary>Does the graph hold the pooler's dense layer?</summary>
    public bool HasPooler { get; }

    /// <summary>The graph's output names (e.g. last_hidden_state and, with a pooler, the pooled output).</summary>
    public IReadOnlyList<string> GraphOutputs => _file.Graph.Outputs;

    public IReadOnlyList<string> Names => _names;

    /// <summary>Opens a model file; <paramref name="config"/> (a BERT config) overrides the inferred one.</summary>
    public static OnnxTensorSource Open(string path, PretrainedConfig? config = null) => Wrap(OnnxFile.Open(path), config);

    /// <summary>A model from a stream (a resource of a package's DLL is mapped in place, any other stream read once).</summary>
    public static OnnxTensorSource Load(Stream onnx, string displayName, PretrainedConfig? config = null) => Wrap(OnnxFile.Load(onnx, displayName), config);

    private static OnnxTensorSource Wrap(OnnxFile file, PretrainedConfig? config)
    {
        try
        {
            BertConfig? bert = config switch
            {
                null => null,
                BertConfig b when b.ModelType == "bert" => b,
                _ => throw new FinetuneException(ErrorKind.Unsupported, $"ONNX import of '{file.DisplayName}' supports BERT (model_type 'bert'), not '{config.ModelType}'."),
            };
            return new OnnxTensorSource(file, bert);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _weights.ContainsKey(name);

    public TensorInfo Info(string name)
    {
        var w = Get(name);
        return new TensorInfo(name, w.Tensor.DType!.Value, w.Shape);
    }

    public void CopyTo(string name, Span<float> destination)
    {
        var w = Get(name);
        if (!w.Transpose)
        {
            _file.CopyTo(w.Tensor, destination);
            return;
        }
        int rows = w.Tensor.Shape[0], cols = w.Tensor.Shape[1];
        if (destination.Length != (long)rows * cols)
            throw new ArgumentException($"Tensor '{name}' has {(long)rows * cols} elements but the destination holds {destination.Length}.");
        float[] stored = _file.ReadFloat(w.Tensor); // [in, out] as stored: rows = in, cols = out
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                destination[c * rows + r] = stored[r * cols + c];
    }

    public long[] ReadInt64(string name) => throw FinetuneException.Invalid($"Tensor '{name}' in '{Path}' is floating point, not an integer type.");

    /// <summary>The ONNX initializer behind a weight and whether it is transposed (for tests and messages).</summary>
    public (string Initializer, bool Transposed) Source(string name)
    {
        var w = Get(name);
        return (w.Tensor.Name, w.Transpose);
    }

    public void Dispose() => _file.Dispose();

    private OnnxWeight Get(string name) =>
        _weights.TryGetValue(name, out var w) ? w : throw FinetuneException.Missing($"Tensor '{name}' is not in '{Path}'.");
}
