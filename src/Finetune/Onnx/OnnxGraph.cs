namespace Finetune.Onnx;

/// <summary>One NodeProto attribute: the scalar, list or tensor fields this reader uses.</summary>
internal sealed class OnnxAttribute
{
    public required string Name { get; init; }
    public float? F { get; set; }
    public long? I { get; set; }
    public string? S { get; set; }
    public OnnxTensor? T { get; set; }
    public List<long> Ints { get; } = new();
    public List<float> Floats { get; } = new();
}

internal sealed class OnnxNode
{
    public required string Name { get; init; }
    public required string OpType { get; init; }
    public required string Domain { get; init; }
    public required List<string> Inputs { get; init; }
    public required List<string> Outputs { get; init; }
    public required Dictionary<string, OnnxAttribute> Attributes { get; init; }

    /// <summary>How messages name a node: its name, or its op type and first output when it has none.</summary>
    public string Display => Name.Length > 0 ? $"{OpType} node '{Name}'" : $"{OpType} node (output '{(Outputs.Count > 0 ? Outputs[0] : "")}')";

    public long IntAttribute(string name, long fallback) => Attributes.TryGetValue(name, out var a) && a.I is long v ? v : fallback;

    public float FloatAttribute(string name, float fallback) => Attributes.TryGetValue(name, out var a) && a.F is float v ? v : fallback;
}

/// <summary>The parts of an ONNX ModelProto this library reads: the main graph's nodes, initializers, inputs and outputs.</summary>
internal sealed class OnnxGraph
{
    public List<OnnxNode> Nodes { get; } = new();
    public List<OnnxTensor> Initializers { get; } = new();
    public List<string> Inputs { get; } = new();
    public List<string> Outputs { get; } = new();
    public string ProducerName { get; set; } = "";
    public long IrVersion { get; set; }
    public List<(string Domain, long Version)> Opsets { get; } = new();

    /// <summary>The model's metadata_props (e.g. the config.json this library's exporter embeds).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    private Dictionary<string, OnnxTensor>? _initializerByName;
    private Dictionary<string, OnnxNode>? _producer;
    private Dictionary<string, List<OnnxNode>>? _consumers;

    public OnnxTensor? Initializer(string name)
    {
        _initializerByName ??= BuildInitializerIndex();
        return _initializerByName.TryGetValue(name, out var t) ? t : null;
    }

    /// <summary>An initializer or the value of the Constant node producing <paramref name="name"/>.</summary>
    public OnnxTensor? Constant(string name)
    {
        if (Initializer(name) is { } t) return t;
        if (Producer(name) is { OpType: "Constant" } c && c.Attributes.TryGetValue("value", out var v)) return v.T;
        return null;
    }

    public OnnxNode? Producer(string name)
    {
        if (_producer == null)
        {
            _producer = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
            foreach (var n in Nodes)
                foreach (string o in n.Outputs)
                    if (o.Length > 0) _producer.TryAdd(o, n);
        }
        return _producer.TryGetValue(name, out var p) ? p : null;
    }

    public IReadOnlyList<OnnxNode> Consumers(string name)
    {
        if (_consumers == null)
        {
            _consumers = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
            foreach (var n in Nodes)
                foreach (string i in n.Inputs)
                {
                    if (i.Length == 0) continue;
                    if (!_consumers.TryGetValue(i, out var list)) _consumers[i] = list = new List<OnnxNode>();
                    if (list.Count == 0 || !ReferenceEquals(list[^1], n)) list.Add(n);
                }
        }
        return _consumers.TryGetValue(name, out var c) ? c : [];
    }

    private Dictionary<string, OnnxTensor> BuildInitializerIndex()
    {
        var d = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        foreach (var t in Initializers) d.TryAdd(t.Name, t);
        return d;
    }
}
