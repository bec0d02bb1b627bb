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
