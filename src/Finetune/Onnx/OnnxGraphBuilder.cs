using System.Globalization;
using System.Runtime.InteropServices;

namespace Finetune.Onnx;

/// <summary>
/// Builds one ONNX graph (onnx.proto field numbers): named float initializers, int64 constants, nodes with
/// int/float/ints attributes, and inputs/outputs with symbolic dimensions; <see cref="Write"/> wraps it in a
/// ModelProto for the default domain at <see cref="Opset"/>.
/// </summary>
internal sealed class OnnxGraphBuilder(string name)
{
    public const int Opset = 17;
    private const int IrVersion = 8; // the IR version of opset 17 (ONNX 1.12)
    private const int FloatType = 1, Int64Type = 7;

    private readonly List<ProtoWriter> nodes = [];
    private readonly List<ProtoWriter> initializers = [];
    private readonly List<ProtoWriter> inputs = [];
    private readonly List<ProtoWriter> outputs = [];
    private readonly HashSet<string> initializerNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> constants = new(StringComparer.Ordinal);
    private readonly List<(string Key, string Value)> metadata = [];
    private int next;

    /// <summary>An int64 input with the given dimensions (a string is a symbolic axis, e.g. "batch").</summary>
    public string Input(string inputName, params object[] dims)
    {
        inputs.Add(ValueInfo(inputName, Int64Type, dims));
        return inputName;
    }

    public void Output(string valueName, string outputName, params object[] dims)
    {
        Node("Identity", [valueName], outputName);
        outputs.Add(ValueInfo(outputName, FloatType, dims));
    }

    /// <summary>A float initializer (added once per name: shared weights are referenced, not copied).</summary>
    public string Initializer(string initName, ReadOnlySpan<float> data, params int[] dims)
    {
        if (!initializerNames.Add(initName)) return initName;
        var t = new ProtoWriter();
        t.PackedVarints(1, Array.ConvertAll(dims, d => (long)d));
        t.Varint(2, FloatType);
        t.String(8, initName);
        t.Bytes(9, BitConverter.IsLittleEndian ? MemoryMarshal.AsBytes(data) : ToLittleEndian(data));
        initializers.Add(t);
        return initName;
    }

    /// <summary>An int64 constant tensor (a scalar when <paramref name="scalar"/>), shared by value.</summary>
    public string Int64s(bool scalar, params long[] values)
    {
        string key = (scalar ? "s" : "v") + string.Join(",", values);
        if (constants.TryGetValue(key, out var existing)) return existing;
        string constName = $"const_i64_{constants.Count}";
        var t = new ProtoWriter();
        if (!scalar) t.PackedVarints(1, [values.Length]);
        t.Varint(2, Int64Type);
        t.String(8, constName);
        t.Bytes(9, MemoryMarshal.AsBytes(values.AsSpan()));
        initializers.Add(t);
        initializerNames.Add(constName);
        constants[key] = constName;
        return constName;
    }

    /// <summary>A float scalar constant.</summary>
    public string Float(float value)
    {
        string key = "f" + value.ToString("R", CultureInfo.InvariantCulture);
        if (constants.TryGetValue(key, out var existing)) return existing;
        string constName = $"const_f32_{constants.Count}";
        constants[key] = constName;
        var t = new ProtoWriter();
        t.Varint(2, FloatType);
        t.String(8, constName);
        t.Bytes(9, MemoryMarshal.AsBytes(new[] { value }.AsSpan()));
        initializers.Add(t);
        initializerNames.Add(constName);
        return constName;
    }

    /// <summary>A node; its output is named after the op unless <paramref name="output"/> is given.</summary>
    public string Node(string op, string[] nodeInputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        output ??= $"{op}_{next++}";
        var n = new ProtoWriter();
        foreach (string i in nodeInputs) n.String(1, i);
        n.String(2, output);
        n.String(3, $"{op}_node_{nodes.Count}");
        n.String(4, op);
        foreach (var (attrName, value) in attributes)
        {
            var a = new ProtoWriter();
            a.String(1, attrName);
            switch (value)
            {
                case float f:
                    a.Float(2, f);
                    a.Varint(20, 1);
                    break;
                case int i:
                    a.Varint(3, i);
                    a.Varint(20, 2);
                    break;
                case long[] ints:
                    a.PackedVarints(8, ints);
                    a.Varint(20, 7);
                    break;
                default:
                    throw new ArgumentException($"Attribute {attrName} has an unsupported type {value.GetType().Name}.");
            }
            n.Message(5, a);
        }
        nodes.Add(n);
        return output;
    }

    /// <summary>A metadata_props entry of the model (what ONNX Runtime's ModelMetadata.CustomMetadataMap shows).</summary>
    public void Metadata(string key, string value) => metadata.Add((key, value));

    /// <summary>The ModelProto, written to <paramref name="stream"/>.</summary>
    public void Write(Stream stream, string producerVersion)
    {
        var graph = new ProtoWriter();
        foreach (var n in nodes) graph.Message(1, n);
        graph.String(2, name);
        foreach (var t in initializers) graph.Message(5, t);
        foreach (var i in inputs) graph.Message(11, i);
        foreach (var o in outputs) graph.Message(12, o);
        var model = new ProtoWriter();
        model.Varint(1, IrVersion);
        model.String(2, "finetune");
        model.String(3, producerVersion);
        model.Message(7, graph);
        var opset = new ProtoWriter();
        opset.String(1, "");
        opset.Varint(2, Opset);
        model.Message(8, opset);
        foreach (var (key, value) in metadata)
        {
            var entry = new ProtoWriter();
            entry.String(1, key);
            entry.String(2, value);
            model.Message(14, entry);
        }
        model.CopyTo(stream);
    }

    private static ProtoWriter ValueInfo(string valueName, int elemType, object[] dims)
    {
        var shape = new ProtoWriter();
        foreach (object d in dims)
        {
            var dim = new ProtoWriter();
            if (d is string symbol) dim.String(2, symbol);
            else dim.Varint(1, Convert.ToInt64(d, CultureInfo.InvariantCulture));
            shape.Message(1, dim);
        }
        var tensor = new ProtoWriter();
        tensor.Varint(1, elemType);
        tensor.Message(2, shape);
        var type = new ProtoWriter();
        type.Message(1, tensor);
        var info = new ProtoWriter();
        info.String(1, valueName);
        info.Message(2, type);
        return info;
    }

    private static byte[] ToLittleEndian(ReadOnlySpan<float> data)
    {
        var bytes = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
        return bytes;
    }
}
