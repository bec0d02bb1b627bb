using System.Buffers.Binary;
using System.Text;
using Finetune.Hub;

namespace Finetune.Tests.Weights.Onnx;

/// <summary>
/// The packaged ONNX files, and an independent minimal decoder of their initializers and nodes (written for the
/// tests from onnx.proto's field numbers, sharing no code with the library's reader) for hand-made conversions.
/// </summary>
internal static class OnnxTestFiles
{
    public const string MiniLm = "sentence-transformers/all-MiniLM-L6-v2";
    public const string Arctic = "Snowflake/snowflake-arctic-embed-xs";

    public static PackagedModel Require(string modelId)
    {
        // PackageDownload in Finetune.csproj restores the packages with the solution, so they are always there.
        Assert.True(PackagedModels.TryFind(modelId, out var model), $"package for {modelId} not restored (dotnet restore)");
        return model!;
    }

    public static byte[] ReadOnnx(string modelId)
    {
        using var s = Require(modelId).OpenOnnx();
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return bytes;
    }

    public sealed record Init(string Name, int DataType, long[] Dims, byte[] Raw);

    public sealed record Node(string Op, List<string> Inputs, List<string> Outputs);

    public static (Dictionary<string, Init> Inits, List<Node> Nodes) Decode(byte[] model)
    {
        var inits = new Dictionary<string, Init>();
        var nodes = new List<Node>();
        foreach (var (f, _, v, s, e) in Fields(model, 0, model.Length))
        {
            if (f != 7) continue;
            foreach (var (gf, _, _, gs, ge) in Fields(model, s, e))
            {
                if (gf == 1)
                {
                    var node = new Node("", new List<string>(), new List<string>());
                    string op = "";
                    foreach (var (nf, _, _, ns, ne) in Fields(model, gs, ge))
                    {
                        if (nf == 1) node.Inputs.Add(Encoding.UTF8.GetString(model, ns, ne - ns));
                        else if (nf == 2) node.Outputs.Add(Encoding.UTF8.GetString(model, ns, ne - ns));
                        else if (nf == 4) op = Encoding.UTF8.GetString(model, ns, ne - ns);
                    }
                    nodes.Add(node with { Op = op });
                }
                else if (gf == 5)
                {
                    string name = "";
                    int type = 0;
                    var dims = new List<long>();
                    byte[] raw = [];
                    foreach (var (tf, _, tv, ts, te) in Fields(model, gs, ge))
                    {
                        if (tf == 1) dims.Add((long)tv);
                        else if (tf == 2) type = (int)tv;
                        else if (tf == 8) name = Encoding.UTF8.GetString(model, ts, te - ts);
                        else if (tf == 9) raw = model[ts..te];
                    }
                    inits[name] = new Init(name, type, dims.ToArray(), raw);
                }
            }
        }
        return (inits, nodes);
    }

    /// <summary>
    /// A smaller model re-encoded from the real one: its ir_version, producer and opsets, every node (inputs
    /// renamed by <paramref name="renameNodeInput"/>), the graph inputs and outputs, and the initializers
    /// <paramref name="keep"/> selects, each copied byte for byte but for its name (renamed by
    /// <paramref name="renameInitializer"/>). Everything else (metadata_props too) is left out.
    /// </summary>
    public static byte[] Rebuild(byte[] model, Func<Init, bool> keep, Func<string, string>? renameNodeInput = null, Func<string, string>? renameInitializer = null)
    {
        var graph = new MemoryStream();
        var result = new MemoryStream();
        foreach (var (f, w, v, s, e) in Fields(model, 0, model.Length))
        {
            if (f == 1 && w == 0) { WriteVarint(result, 1 << 3); WriteVarint(result, v); }
            else if (f is 2 or 8) WriteBytes(result, f, model.AsSpan(s, e - s));
            else if (f != 7) continue;
            else
            {
                foreach (var (gf, _, _, gs, ge) in Fields(model, s, e))
                {
                    if (gf == 5)
                    {
                        var (inits, _) = Decode(WrapInitializer(model.AsSpan(gs, ge - gs)));
                        if (!keep(inits.Values.Single())) continue;
                        if (renameInitializer == null)
                        {
                            WriteBytes(graph, 5, model.AsSpan(gs, ge - gs));
                            continue;
                        }
                        var tensor = new MemoryStream();
                        foreach (var (tf, tw, tv, ts, te) in Fields(model, gs, ge))
                        {
                            if (tf == 8) WriteBytes(tensor, 8, Encoding.UTF8.GetBytes(renameInitializer(Encoding.UTF8.GetString(model, ts, te - ts))));
                            else if (tw == 0) { WriteVarint(tensor, (ulong)(tf << 3)); WriteVarint(tensor, tv); }
                            else WriteField(tensor, model, tf, ts, te);
                        }
                        WriteBytes(graph, 5, tensor.ToArray());
                    }
                    else if (gf == 1 && renameNodeInput != null)
                    {
                        var node = new MemoryStream();
                        foreach (var (nf, _, _, ns, ne) in Fields(model, gs, ge))
                        {
                            if (nf == 1) WriteBytes(node, 1, Encoding.UTF8.GetBytes(renameNodeInput(Encoding.UTF8.GetString(model, ns, ne - ns))));
                            else WriteField(node, model, nf, ns, ne);
                        }
                        WriteBytes(graph, 1, node.ToArray());
                    }
                    else if (gf is 1 or 11 or 12) WriteBytes(graph, gf, model.AsSpan(gs, ge - gs));
                }
            }
        }
        WriteBytes(result, 7, graph.ToArray());
        return result.ToArray();
    }

    /// <summary>A ModelProto holding one graph holding one initializer, so that <see cref="Decode"/> reads it.</summary>
    private static byte[] WrapInitializer(ReadOnlySpan<byte> tensor)
    {
        var g = new MemoryStream();
        WriteBytes(g, 5, tensor);
        var m = new MemoryStream();
        WriteBytes(m, 7, g.ToArray());
        return m.ToArray();
    }

    /// <summary>Node fields other than inputs: strings and attribute messages are length-delimited; copied as such.</summary>
    private static void WriteField(MemoryStream to, byte[] model, int field, int start, int end) => WriteBytes(to, field, model.AsSpan(start, end - start));

    private static void WriteBytes(MemoryStream to, int field, ReadOnlySpan<byte> payload)
    {
        WriteVarint(to, (ulong)(field << 3 | 2));
        WriteVarint(to, (ulong)payload.Length);
        to.Write(payload);
    }

    private static void WriteVarint(MemoryStream to, ulong v)
    {
        for (; v >= 0x80; v >>= 7) to.WriteByte((byte)(v | 0x80));
        to.WriteByte((byte)v);
    }

    /// <summary>(field, wire type, varint value, start, end) of each field; dims are written unpacked by torch.onnx.</summary>
    private static IEnumerable<(int, int, ulong, int, int)> Fields(byte[] b, int p, int end)
    {
        while (p < end)
        {
            ulong tag = Varint(b, ref p);
            int wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    ulong v = Varint(b, ref p);
                    yield return ((int)(tag >> 3), 0, v, p, p);
                    break;
                case 2:
                    int len = (int)Varint(b, ref p);
                    yield return ((int)(tag >> 3), 2, 0, p, p + len);
                    p += len;
                    break;
                case 5: p += 4; break;
                case 1: p += 8; break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
    }

    private static ulong Varint(byte[] b, ref int p)
    {
        ulong r = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[p++];
            r |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return r;
        }
    }

    /// <summary>A float32 [rows, cols] byte matrix transposed to [cols, rows], bytes moved four at a time.</summary>
    public static byte[] Transpose(byte[] raw, int rows, int cols)
    {
        var result = new byte[raw.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                Buffer.BlockCopy(raw, (r * cols + c) * 4, result, (c * rows + r) * 4, 4);
        return result;
    }

    public static uint ReadUInt32(byte[] b, long offset) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)offset, 4));
}
