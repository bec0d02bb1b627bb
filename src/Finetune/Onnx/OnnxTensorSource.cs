using Finetune.Models;
using Finetune.Weights;

namespace Finetune.Onnx;

/// <summary>
/// The weights of an encoder's ONNX export (ours, torch.onnx or Optimum; BERT, DistilBERT, RoBERTa, ALBERT or
/// ELECTRA) under Hugging Face's names, dense weights transposed to [out, in]: an <see cref="ITensorSource"/> that
/// <c>PreTrainedModel.LoadWeights</c> reads like a safetensors file. A bare encoder's weights keep the bare names
/// (BertModel's); a classifier's (a graph with head weights) keep the task model's names, prefix included.
/// <see cref="Config"/> is the config given, else the config.json embedded in the model's metadata (by
/// <see cref="OnnxExport"/>), else one inferred from the graph.
/// </summary>
public sealed class OnnxTensorSource : ITensorSource
{
    private readonly OnnxFile _file;
    private readonly Dictionary<string, OnnxWeight> _weights;
    private readonly List<string> _names;

    private OnnxTensorSource(OnnxFile file, PretrainedConfig? given, PretrainedConfig? fallback)
    {
        _file = file;
        var all = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        foreach (var w in OnnxWeightNaming.Name(file)) all[w.Name] = w;
        given ??= Embedded(file) ?? fallback;
        // Task exports put the family's prefix before the encoder's names ("bert.embeddings…", "classifier.weight").
        OnnxFamily? prefixed = Array.Find(OnnxFamily.All, f => HasPrefix(all, f.Prefix + "."));
        var family = given != null ? OnnxFamily.For(given) : prefixed;
        string prefix = family != null ? family.Prefix + "." : "";
        bool isPrefixed = prefix.Length > 0 && HasPrefix(all, prefix);
        var bare = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        var head = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        foreach (var (name, w) in all)
        {
            if (isPrefixed ? name.StartsWith(prefix, StringComparison.Ordinal) : !IsHeadName(name)) bare[isPrefixed ? name[prefix.Length..] : name] = w;
            else head[name] = w;
        }
        family ??= Array.Find(OnnxFamily.All, f => f.Recognises(file, bare))!;
        IsClassifier = head.Count > 0;
        var config = given ?? family.Infer(file, bare);
        if (given == null && IsClassifier)
        {
            if (!head.TryGetValue(family.LabelsWeight, out var labels) || labels.Shape.Length != 2)
                throw file.Error($"the graph has classifier weights but no 2-D '{family.LabelsWeight}' to count the labels from");
            config.Architectures = [family.ClassStem + "ForSequenceClassification"];
            config.NumLabels = labels.Shape[0];
        }
        Config = config;
        HasPooler = family.PoolerWeight != null && bare.ContainsKey(family.PoolerWeight);
        _weights = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        _names = new List<string>();
        string outPrefix = IsClassifier ? family.Prefix + "." : "";
        foreach (var (name, shape) in family.Encoder(config, HasPooler)) Take(file, bare, name, outPrefix + name, shape, family);
        if (IsClassifier)
            foreach (var (name, shape) in family.Head(config)) Take(file, head, name, name, shape, family);
        foreach (var (name, w) in bare)
            if (!_weights.ContainsKey(outPrefix + name))
                throw file.Error($"initializer '{w.Tensor.Name}' ({name}) is not a parameter of a {family.ClassStem} encoder: not such an export, or a config that does not fit it");
        foreach (var (name, w) in head)
            if (!_weights.ContainsKey(name))
                throw file.Error($"initializer '{w.Tensor.Name}' ({name}) is not a parameter of {family.ClassStem}ForSequenceClassification");
    }

    private void Take(OnnxFile file, Dictionary<string, OnnxWeight> from, string name, string outName, int[] shape, OnnxFamily family)
    {
        if (!from.TryGetValue(name, out var w))
            throw file.Error($"the graph has no weight '{outName}', which a {family.ClassStem} model with this config needs");
        if (!w.Shape.AsSpan().SequenceEqual(shape))
            throw file.Error($"weight '{outName}' (initializer '{w.Tensor.Name}') has shape [{string.Join(", ", w.Shape)}] but the config needs [{string.Join(", ", shape)}]");
        if (w.Tensor.DType is not { } dt || !dt.IsFloat())
            throw file.Error($"weight '{outName}' (initializer '{w.Tensor.Name}') is {w.Tensor.DataType}, not floating point");
        _weights[outName] = w;
        _names.Add(outName);
    }

    private static bool HasPrefix(Dictionary<string, OnnxWeight> all, string prefix)
    {
        foreach (string name in all.Keys)
            if (name.StartsWith(prefix, StringComparison.Ordinal) && name.Contains("embeddings.", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>Head weights of a graph whose encoder names carry no prefix.</summary>
    private static bool IsHeadName(string name) => name.StartsWith("classifier.", StringComparison.Ordinal) || name.StartsWith("pre_classifier.", StringComparison.Ordinal);

    /// <summary>The config.json <see cref="OnnxExport"/> embeds in the model's metadata_props, if any.</summary>
    private static PretrainedConfig? Embedded(OnnxFile file) =>
        file.Graph.Metadata.TryGetValue(OnnxExport.ConfigMetadataKey, out var json)
            ? OnnxImport.ReadConfig(json, $"{file.DisplayName}'s metadata '{OnnxExport.ConfigMetadataKey}'")
            : null;

    /// <summary>The ONNX file's path (or "package!resource" name).</summary>
    public string Path => _file.DisplayName;

    /// <summary>The model's config: the one given to Open/Load, else the embedded one, else inferred from the graph.</summary>
    public PretrainedConfig Config { get; }

    /// <summary>Does the graph hold a sequence-classification head (so <see cref="Names"/> are the task model's)?</summary>
    public bool IsClassifier { get; }

    /// <summary>Does the graph hold the pooler's dense layer?</summary>
    public bool HasPooler { get; }

    /// <summary>The graph's output names (e.g. last_hidden_state and, with a pooler, the pooled output).</summary>
    public IReadOnlyList<string> GraphOutputs => _file.Graph.Outputs;

    public IReadOnlyList<string> Names => _names;

    /// <summary>
    /// Opens a model file; <paramref name="config"/> overrides the embedded and the inferred config,
    /// <paramref name="fallback"/> (a config.json found beside the file) only the inferred one.
    /// </summary>
    public static OnnxTensorSource Open(string path, PretrainedConfig? config = null, PretrainedConfig? fallback = null) => Wrap(OnnxFile.Open(path), config, fallback);

    /// <summary>A model from a stream (a resource of a package's DLL is mapped in place, any other stream read once).</summary>
    public static OnnxTensorSource Load(Stream onnx, string displayName, PretrainedConfig? config = null) => Wrap(OnnxFile.Load(onnx, displayName), config, null);

    private static OnnxTensorSource Wrap(OnnxFile file, PretrainedConfig? config, PretrainedConfig? fallback)
    {
        try
        {
            return new OnnxTensorSource(file, config, fallback);
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
