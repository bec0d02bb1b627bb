using System.IO.Compression;
using System.Text;

namespace Finetune.Tests.Weights;

/// <summary>Emits protocol-2 pickle opcodes by hand, to craft torch.save archives (good and malicious) for tests.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _s = new();

    public PickleBuilder() => Op(0x80, 2);

    public PickleBuilder Op(params byte[] bytes)
    {
        _s.Write(bytes);
        return this;
    }

    public PickleBuilder Global(string module, string name) => Op((byte)'c').Raw($"{module}\n{name}\n");

    public PickleBuilder Str(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        _s.Write(BitConverter.GetBytes(b.Length));
        _s.Write(b);
        return this;
    }

    public PickleBuilder Int(int v)
    {
        Op((byte)'J');
        _s.Write(BitConverter.GetBytes(v));
        return this;
    }

    public PickleBuilder Mark() => Op((byte)'(');

    public PickleBuilder Tuple() => Op((byte)'t');

    public PickleBuilder Reduce() => Op((byte)'R');

    public PickleBuilder Raw(string ascii)
    {
        _s.Write(Encoding.ASCII.GetBytes(ascii));
        return this;
    }

    /// <summary>Pushes _rebuild_tensor_v2(storage(key, type, numel), offset, shape, stride, False, OrderedDict()).</summary>
    public PickleBuilder Tensor(string storageType, string key, int numel, int offset, int[] shape, int[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().Op((byte)'Q');
        Int(offset);
        Mark();
        foreach (int d in shape) Int(d);
        Tuple();
        Mark();
        foreach (int d in stride) Int(d);
        Tuple();
        Op(0x89).Global("collections", "OrderedDict").Op((byte)')').Reduce();
        return Tuple().Reduce();
    }

    public byte[] Stop() => Op((byte)'.')._s.ToArray();

    /// <summary>Writes a torch.save-style zip: archive/data.pkl, archive/data/&lt;key&gt; and archive/version.</summary>
    public static void WriteArchive(string path, byte[] pickle, params (string Key, byte[] Data)[] storages)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
            s.Write(data);
        }
        Add("archive/data.pkl", pickle);
        foreach (var (key, data) in storages) Add("archive/data/" + key, data);
        Add("archive/version", Encoding.ASCII.GetBytes("3\n"));
    }
}
