using Finetune.Onnx;

namespace Finetune.Tests.Weights.Onnx;

/// <summary>Malformed or unsupported ONNX files: one FinetuneException, exit code 3, naming the file and what is wrong.</summary>
public class OnnxMalformedTests
{
    private static readonly Lazy<byte[]> MiniLm = new(() => OnnxTestFiles.ReadOnnx(OnnxTestFiles.MiniLm));

    /// <summary>The real graph with only its small initializers (biases, LayerNorm, shape constants): about 200 KB.</summary>
    private static readonly Lazy<byte[]> Small = new(() => OnnxTestFiles.Rebuild(MiniLm.Value, i => i.Raw.Length <= 8192));

    private static FinetuneException Fails(byte[] bytes, string name)
    {
        var e = Assert.Throws<FinetuneException>(() =>
        {
            using var source = OnnxTensorSource.Load(new MemoryStream(bytes), name);
        });
        Assert.Equal(3, e.ExitCode);
        Assert.Contains(name, e.Message);
        return e;
    }

    [Fact]
    public void ATruncatedFileNamesTheFile()
    {
        byte[] real = MiniLm.Value;
        var e = Fails(real[..(real.Length - 1000)], "cut.onnx");
        Assert.Contains("runs past the end", e.Message);
    }

    [Fact]
    public void AGraphWithoutBertWeightsIsNotABertExport()
    {
        var e = Fails(Small.Value, "small.onnx");
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
    }

    [Fact]
    public void AnUnnameableWeightNamesTheInitializerAndItsNode()
    {
        // Keep layer 0's query weight "927" but make the Add after its MatMul use an unnamed bias.
        byte[] bytes = OnnxTestFiles.Rebuild(MiniLm.Value, i => i.Raw.Length <= 8192 || i.Name == "927",
            input => input == "encoder.layer.0.attention.self.query.bias" ? "bias_without_a_name" : input);
        var e = Fails(bytes, "unnamed.onnx");
        Assert.Contains("'927'", e.Message);
        Assert.Contains("MatMul node 'MatMul_34'", e.Message);
    }

    [Fact]
    public void ExternalDataOutsideTheModelFolderIsRefused()
    {
        using var tmp = new TempDir();
        // A one-initializer model whose tensor points at ../secret.bin.
        var tensor = new MemoryStream();
        void Varint(MemoryStream s, ulong v) { for (; v >= 0x80; v >>= 7) s.WriteByte((byte)(v | 0x80)); s.WriteByte((byte)v); }
        void Bytes(MemoryStream s, int field, byte[] payload) { Varint(s, (ulong)(field << 3 | 2)); Varint(s, (ulong)payload.Length); s.Write(payload); }
        Varint(tensor, 1 << 3); Varint(tensor, 4);                 // dims: [4]
        Varint(tensor, 2 << 3); Varint(tensor, 1);                 // data_type: FLOAT
        Bytes(tensor, 8, "w"u8.ToArray());                         // name
        var entry = new MemoryStream();
        Bytes(entry, 1, "location"u8.ToArray());
        Bytes(entry, 2, "../secret.bin"u8.ToArray());
        Bytes(tensor, 13, entry.ToArray());                        // external_data
        Varint(tensor, 14 << 3); Varint(tensor, 1);                // data_location: EXTERNAL
        var graph = new MemoryStream();
        Bytes(graph, 5, tensor.ToArray());
        var model = new MemoryStream();
        Bytes(model, 7, graph.ToArray());
        Directory.CreateDirectory(tmp.File("m"));
        File.WriteAllBytes(tmp.File("secret.bin"), new byte[16]);
        File.WriteAllBytes(tmp.File("m/model.onnx"), model.ToArray());
        var e = Assert.Throws<FinetuneException>(() => OnnxTensorSource.Open(tmp.File("m/model.onnx")));
        Assert.Equal(3, e.ExitCode);
        Assert.Contains("outside the model's folder", e.Message);
        Assert.Contains(tmp.File("m/model.onnx"), e.Message);
    }

    /// <summary>
    /// Seeded mutations of the small real graph (byte flips, truncations, huge varint lengths) and truncations
    /// of the full file: each fails with exit code 3 naming the file, never another exception or a hang.
    /// </summary>
    [Fact]
    public void MutatedFilesFailCleanly()
    {
        byte[] small = Small.Value;
        var rng = new Random(20261202);
        for (int trial = 0; trial < 300; trial++)
        {
            byte[] bytes = (byte[])small.Clone();
            switch (trial % 3)
            {
                case 0:
                    for (int k = 0, flips = 1 + rng.Next(6); k < flips; k++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                    break;
                case 1:
                    bytes = bytes[..rng.Next(bytes.Length)];
                    break;
                default:
                    // A run of 0xFF: every varint length it starts reads as huge (or as an over-long varint).
                    int at = rng.Next(bytes.Length - 10);
                    for (int k = 0; k < 9; k++) bytes[at + k] = 0xFF;
                    break;
            }
            Fails(bytes, $"fuzz-{trial}.onnx");
        }
        byte[] real = MiniLm.Value;
        for (int trial = 0; trial < 12; trial++) Fails(real[..rng.Next(real.Length)], $"cut-{trial}.onnx");
    }
}
