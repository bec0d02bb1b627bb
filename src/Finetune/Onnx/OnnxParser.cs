namespace Finetune.Onnx;

/// <summary>
/// Parses the ModelProto fields this library needs (onnx.proto3 field numbers) with <see cref="ProtoReader"/>;
/// everything else is skipped. Only the main graph is read: subgraphs of If/Loop attributes are skipped.
/// </summary>
internal static class OnnxParser
{
    /// <summary>
    /// Parses <paramref name="bytes"/>; external data locations are resolved inside <paramref name="baseDir"/> (null:
    /// external data is refused). Throws <see cref="ProtoFormatException"/> on malformed bytes.
    /// </summary>
    public static OnnxGraph Parse(ReadOnlySpan<byte> bytes, string? baseDir)
    {
        var graph = new OnnxGraph();
        var r = new ProtoReader(bytes, 0, bytes.Length);
        bool sawGraph = false;
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            switch (field)
            {
                case 1 when wire == 0: graph.IrVersion = r.ReadInt64(); break;
                case 2 when wire == 2: graph.ProducerName = r.ReadString(); break;
                case 7 when wire == 2:
                    if (sawGraph) throw new ProtoFormatException("the model holds two graphs");
                    sawGraph = true;
                    ReadGraph(bytes, r.ReadMessage(), graph, baseDir);
                    break;
                case 8 when wire == 2: graph.Opsets.Add(ReadOpset(r.ReadMessage())); break;
                case 14 when wire == 2:
                    var (key, value) = ReadStringPair(r.ReadMessage());
                    graph.Metadata[key] = value;
                    break;
                default: r.Skip(wire); break;
            }
        }
        if (!sawGraph) throw new ProtoFormatException("it holds no graph (not an ONNX model)");
        return graph;
    }

    private static (string, long) ReadOpset(ProtoReader r)
    {
        string domain = "";
        long version = 0;
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            if (field == 1 && wire == 2) domain = r.ReadString();
            else if (field == 2 && wire == 0) version = r.ReadInt64();
            else r.Skip(wire);
        }
        return (domain, version);
    }

    private static void ReadGraph(ReadOnlySpan<byte> bytes, ProtoReader r, OnnxGraph graph, string? baseDir)
    {
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            switch (field)
            {
                case 1 when wire == 2: graph.Nodes.Add(ReadNode(bytes, r.ReadMessage(), baseDir, graph.Nodes.Count)); break;
                case 5 when wire == 2: graph.Initializers.Add(ReadTensor(bytes, r.ReadMessage(), baseDir, $"initializer #{graph.Initializers.Count}")); break;
                case 11 when wire == 2: graph.Inputs.Add(ReadValueInfoName(r.ReadMessage())); break;
                case 12 when wire == 2: graph.Outputs.Add(ReadValueInfoName(r.ReadMessage())); break;
                case 15 when wire == 2: throw new ProtoFormatException("sparse initializers are not supported");
                default: r.Skip(wire); break;
            }
        }
    }

    private static string ReadValueInfoName(ProtoReader r)
    {
        string name = "";
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            if (field == 1 && wire == 2) name = r.ReadString();
            else r.Skip(wire);
        }
        return name;
    }

    private static OnnxNode ReadNode(ReadOnlySpan<byte> bytes, ProtoReader r, string? baseDir, int index)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new Dictionary<string, OnnxAttribute>(StringComparer.Ordinal);
        string name = "", op = "", domain = "";
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            switch (field)
            {
                case 1 when wire == 2: inputs.Add(r.ReadString()); break;
                case 2 when wire == 2: outputs.Add(r.ReadString()); break;
                case 3 when wire == 2: name = r.ReadString(); break;
                case 4 when wire == 2: op = r.ReadString(); break;
                case 7 when wire == 2: domain = r.ReadString(); break;
                case 5 when wire == 2:
                    var a = ReadAttribute(bytes, r.ReadMessage(), baseDir, $"node #{index}");
                    attributes[a.Name] = a;
                    break;
                default: r.Skip(wire); break;
            }
        }
        return new OnnxNode { Name = name, OpType = op, Domain = domain, Inputs = inputs, Outputs = outputs, Attributes = attributes };
    }

    private static OnnxAttribute ReadAttribute(ReadOnlySpan<byte> bytes, ProtoReader r, string? baseDir, string where)
    {
        // The name may follow the values on the wire: collect the fields first.
        string name = "";
        float? f = null;
        long? i = null;
        string? s = null;
        OnnxTensor? t = null;
        var ints = new List<long>();
        var floats = new List<uint>();
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            switch (field)
            {
                case 1 when wire == 2: name = r.ReadString(); break;
                case 2 when wire == 5: f = BitConverter.UInt32BitsToSingle(r.ReadFixed32()); break;
                case 3 when wire == 0: i = r.ReadInt64(); break;
                case 4 when wire == 2: s = ReadBytesAsText(bytes, r); break;
                case 5 when wire == 2: t = ReadTensor(bytes, r.ReadMessage(), baseDir, $"a tensor attribute of {where}"); break;
                case 7: r.ReadFixed32s(wire, floats); break;
                case 8: r.ReadVarints(wire, ints); break;
                default: r.Skip(wire); break;
            }
        }
        var attribute = new OnnxAttribute { Name = name, F = f, I = i, S = s, T = t };
        attribute.Ints.AddRange(ints);
        foreach (uint bits in floats) attribute.Floats.Add(BitConverter.UInt32BitsToSingle(bits));
        return attribute;
    }

    private static string ReadBytesAsText(ReadOnlySpan<byte> bytes, ProtoReader r)
    {
        var (start, end) = r.ReadLengthDelimited();
        return System.Text.Encoding.UTF8.GetString(bytes[start..end]);
    }

    private static OnnxTensor ReadTensor(ReadOnlySpan<byte> bytes, ProtoReader r, string? baseDir, string where)
    {
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        int rawStart = -1, rawEnd = -1;
        var floatBits = new List<uint>();
        var int32s = new List<long>();
        var int64s = new List<long>();
        var doubleBits = new List<ulong>();
        var uint64s = new List<long>();
        var external = new Dictionary<string, string>(StringComparer.Ordinal);
        long location = 0;
        bool sawTyped = false;
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            switch (field)
            {
                case 1: r.ReadVarints(wire, dims); break;
                case 2 when wire == 0: dataType = (int)r.ReadInt64(); break;
                case 4: r.ReadFixed32s(wire, floatBits); sawTyped = true; break;
                case 5: r.ReadVarints(wire, int32s); sawTyped = true; break;
                case 7: r.ReadVarints(wire, int64s); sawTyped = true; break;
                case 8 when wire == 2: name = r.ReadString(); break;
                case 9 when wire == 2: (rawStart, rawEnd) = r.ReadLengthDelimited(); break;
                case 10: r.ReadFixed64s(wire, doubleBits); sawTyped = true; break;
                case 11: r.ReadVarints(wire, uint64s); sawTyped = true; break;
                case 13 when wire == 2:
                    {
                        var (k, v) = ReadStringPair(r.ReadMessage());
                        external[k] = v;
                        break;
                    }
                case 14 when wire == 0: location = r.ReadInt64(); break;
                case 3 when wire == 2: throw new ProtoFormatException($"tensor '{name}' ({where}) is split into segments, which is not supported");
                case 6 when wire == 2: r.Skip(wire); sawTyped = true; break; // string_data: never a weight
                default: r.Skip(wire); break;
            }
        }
        string label = name.Length > 0 ? $"tensor '{name}'" : $"unnamed tensor ({where})";
        if (!Enum.IsDefined(typeof(OnnxDataType), dataType) || dataType == 0)
            throw new ProtoFormatException($"{label} has unknown data type {dataType}");
        var type = (OnnxDataType)dataType;
        var shape = new int[dims.Count];
        long count = 1;
        for (int d = 0; d < dims.Count; d++)
        {
            if (dims[d] < 0 || dims[d] > int.MaxValue) throw new ProtoFormatException($"{label} has dimension {dims[d]}");
            shape[d] = (int)dims[d];
            count = count > 0 && shape[d] > long.MaxValue / count ? throw new ProtoFormatException($"{label} has a shape too large to address") : count * shape[d];
        }
        int size = ElementSize(type);
        if (location == 1 || external.Count > 0)
            return ExternalTensor(name, type, shape, count, size, external, baseDir, label);
        if (rawStart >= 0)
        {
            if (size == 0) throw new ProtoFormatException($"{label} of type {type} cannot hold raw data");
            if (count > (rawEnd - rawStart) / size || count * size != rawEnd - rawStart)
                throw new ProtoFormatException($"{label} is {type} {Shape(shape)} = {count} elements, but its raw_data holds {rawEnd - rawStart} bytes");
            return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Raw, Offset = rawStart, ByteLength = rawEnd - rawStart };
        }
        var tensor = TypedTensor(name, type, shape, floatBits, int32s, int64s, doubleBits, uint64s, label);
        long held = tensor.Floats?.Length ?? tensor.Longs?.Length ?? tensor.Doubles?.Length ?? 0;
        if (!sawTyped && count > 0 || held != count)
            throw new ProtoFormatException($"{label} is {type} {Shape(shape)} = {count} elements, but its data fields hold {held}");
        return tensor;
    }

    private static OnnxTensor TypedTensor(string name, OnnxDataType type, int[] shape, List<uint> floatBits, List<long> int32s,
        List<long> int64s, List<ulong> doubleBits, List<long> uint64s, string label)
    {
        switch (type)
        {
            case OnnxDataType.Float:
                {
                    var f = new float[floatBits.Count];
                    for (int i = 0; i < f.Length; i++) f[i] = BitConverter.UInt32BitsToSingle(floatBits[i]);
                    return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Typed, Floats = f };
                }
            case OnnxDataType.Double:
                {
                    var d = new double[doubleBits.Count];
                    for (int i = 0; i < d.Length; i++) d[i] = BitConverter.UInt64BitsToDouble(doubleBits[i]);
                    return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Typed, Doubles = d };
                }
            case OnnxDataType.Int64:
                return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Typed, Longs = int64s.ToArray() };
            case OnnxDataType.UInt32 or OnnxDataType.UInt64:
                return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Typed, Longs = uint64s.ToArray() };
            case OnnxDataType.Int32 or OnnxDataType.Int16 or OnnxDataType.Int8 or OnnxDataType.UInt16 or OnnxDataType.UInt8
                or OnnxDataType.Bool or OnnxDataType.Float16 or OnnxDataType.BFloat16:
                {
                    // int32_data holds these widened (16-bit floats as their bit patterns), one element a value.
                    var values = int32s.ToArray();
                    for (int i = 0; i < values.Length; i++) values[i] = (int)values[i];
                    return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Typed, Longs = values };
                }
            default:
                return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.Typed, Longs = [] };
        }
    }

    private static OnnxTensor ExternalTensor(string name, OnnxDataType type, int[] shape, long count, int size,
        Dictionary<string, string> external, string? baseDir, string label)
    {
        if (size == 0) throw new ProtoFormatException($"{label} of type {type} cannot be external data");
        if (count > long.MaxValue / size) throw new ProtoFormatException($"{label} has a shape too large to address");
        if (!external.TryGetValue("location", out string? location) || location.Length == 0)
            throw new ProtoFormatException($"{label} is external data with no location");
        if (baseDir == null) throw new ProtoFormatException($"{label} is stored in external file '{location}', which cannot be found for a model read from a stream");
        // The location is relative to the model's folder and must stay inside it (no absolute paths, no "..").
        string root = Path.GetFullPath(baseDir);
        string full = Path.GetFullPath(Path.Combine(root, location));
        if (Path.IsPathRooted(location) || !full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ProtoFormatException($"{label} has external data location '{location}', which is outside the model's folder");
        long offset = 0, length = count * size;
        if (external.TryGetValue("offset", out string? o) && (!long.TryParse(o, out offset) || offset < 0))
            throw new ProtoFormatException($"{label} has external data offset '{o}'");
        if (external.TryGetValue("length", out string? l) && (!long.TryParse(l, out length) || length != count * size))
            throw new ProtoFormatException($"{label} is {type} {Shape(shape)} = {count * size} bytes, but its external data length is '{l}'");
        if (!File.Exists(full)) throw new ProtoFormatException($"{label} is stored in external file '{location}', which does not exist");
        long fileLength = new FileInfo(full).Length;
        if (offset > fileLength || length > fileLength - offset)
            throw new ProtoFormatException($"{label} reads bytes [{offset}, {offset + length}) of external file '{location}', which is {fileLength} bytes long");
        return new OnnxTensor { Name = name, DataType = type, Shape = shape, Storage = OnnxStorage.External, Offset = offset, ByteLength = length, ExternalPath = full };
    }

    private static (string, string) ReadStringPair(ProtoReader r)
    {
        string key = "", value = "";
        while (!r.AtEnd)
        {
            var (field, wire) = r.ReadTag();
            if (field == 1 && wire == 2) key = r.ReadString();
            else if (field == 2 && wire == 2) value = r.ReadString();
            else r.Skip(wire);
        }
        return (key, value);
    }

    /// <summary>Bytes per element in raw_data; 0 for types with no fixed size (strings).</summary>
    public static int ElementSize(OnnxDataType t) => t switch
    {
        OnnxDataType.Float or OnnxDataType.Int32 or OnnxDataType.UInt32 => 4,
        OnnxDataType.Double or OnnxDataType.Int64 or OnnxDataType.UInt64 or OnnxDataType.Complex64 => 8,
        OnnxDataType.Complex128 => 16,
        OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Int16 or OnnxDataType.UInt16 => 2,
        OnnxDataType.UInt8 or OnnxDataType.Int8 or OnnxDataType.Bool => 1,
        _ => 0,
    };

    private static string Shape(int[] shape) => "[" + string.Join(", ", shape) + "]";
}
