using System.Runtime.InteropServices;
using Finetune.Weights;

namespace Finetune.Tests.Weights;

public class TorchPickleTests
{
    [SkippableTheory]
    [MemberData(nameof(GoldenCases.Names), MemberType = typeof(GoldenCases))]
    public void GoldenBinLoadsBitIdenticalToSafeTensors(string name)
    {
        string dir = GoldenCases.Dir(name);
        using var st = SafeTensors.Read(Path.Combine(dir, "model.safetensors"));
        using var bin = TorchPickle.Load(Path.Combine(dir, "bin", "pytorch_model.bin"));
        Assert.Equal(st.Names.OrderBy(n => n, StringComparer.Ordinal), bin.Names.OrderBy(n => n, StringComparer.Ordinal));
        foreach (string n in st.Names)
        {
            Assert.Equal(st.Info(n).Shape, bin.Info(n).Shape);
            Assert.Equal(MemoryMarshal.AsBytes<float>(st.ReadFloat(n)).ToArray(), MemoryMarshal.AsBytes<float>(bin.ReadFloat(n)).ToArray());
        }
    }

    [SkippableFact]
    public void CheckpointOpenPrefersSafeTensorsAndFallsBackToBin()
    {
        string dir = GoldenCases.Dir("distilbert");
        using (var a = Checkpoint.Open(dir)) Assert.IsType<SafeTensorsFile>(a);
        using (var b = Checkpoint.Open(Path.Combine(dir, "bin"))) Assert.IsType<TorchCheckpoint>(b);
    }

    private static byte[] Floats(params float[] v) => MemoryMarshal.AsBytes<float>(v).ToArray();

    [Fact]
    public void StorageOffsetsStridesAndSharedStoragesAreMaterialised()
    {
        using var tmp = new TempDir();
        // One storage of 7 floats 0..6 shared by three tensors: a transposed view at offset 1, a contiguous
        // slice at offset 5, and a row-major [2,3] view of the start. Plus a half-precision tensor.
        var p = new PickleBuilder().Op((byte)'}').Mark();
        p.Str("t").Tensor("FloatStorage", "0", 7, 1, new[] { 3, 2 }, new[] { 1, 3 });
        p.Str("s").Tensor("FloatStorage", "0", 7, 5, new[] { 2 }, new[] { 1 });
        p.Str("m").Tensor("FloatStorage", "0", 7, 0, new[] { 2, 3 }, new[] { 3, 1 });
        p.Str("h").Tensor("HalfStorage", "1", 2, 0, new[] { 2 }, new[] { 1 });
        byte[] pickle = p.Op((byte)'u').Stop();
        byte[] half = MemoryMarshal.AsBytes<Half>(new[] { (Half)1.5f, (Half)(-0.25f) }).ToArray();
        PickleBuilder.WriteArchive(tmp.File("m.bin"), pickle, ("0", Floats(0, 1, 2, 3, 4, 5, 6)), ("1", half));
        using var ck = TorchPickle.Load(tmp.File("m.bin"));
        Assert.Equal(new[] { "t", "s", "m", "h" }, ck.Names);
        Assert.Equal(new[] { 3, 2 }, ck.Info("t").Shape);
        // t[i][j] = storage[1 + i + 3j]
        Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, ck.ReadFloat("t"));
        Assert.Equal(new float[] { 5, 6 }, ck.ReadFloat("s"));
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, ck.ReadFloat("m"));
        Assert.Equal(DType.F16, ck.Info("h").DType);
        Assert.Equal(new[] { 1.5f, -0.25f }, ck.ReadFloat("h"));
    }

    [Fact]
    public void IntegerTensorsReadAsInt64()
    {
        using var tmp = new TempDir();
        byte[] pickle = new PickleBuilder().Op((byte)'}').Str("ids").Tensor("LongStorage", "0", 3, 0, new[] { 3 }, new[] { 1 }).Op((byte)'s').Stop();
        PickleBuilder.WriteArchive(tmp.File("i.bin"), pickle, ("0", MemoryMarshal.AsBytes<long>(new long[] { 7, -1, 1L << 40 }).ToArray()));
        using var ck = TorchPickle.Load(tmp.File("i.bin"));
        Assert.Equal(new long[] { 7, -1, 1L << 40 }, ck.ReadInt64("ids"));
    }

    private static FinetuneException Refused(byte[] pickle)
    {
        using var tmp = new TempDir();
        PickleBuilder.WriteArchive(tmp.File("evil.bin"), pickle, ("0", Floats(1, 2)));
        var e = Assert.Throws<FinetuneException>(() => TorchPickle.Load(tmp.File("evil.bin")).Dispose());
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains(tmp.File("evil.bin"), e.Message);
        return e;
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "getattr")]
    [InlineData("torch", "load")]
    [InlineData("subprocess", "Popen")]
    public void APickleCallingANonTensorGlobalIsRefusedNamingIt(string module, string name)
    {
        // The classic payload: module.name("touch pwned") via REDUCE. Refused at the GLOBAL, before any call.
        using var tmp = new TempDir();
        string marker = tmp.File("pwned");
        byte[] pickle = new PickleBuilder().Global(module, name).Mark().Str("touch " + marker).Tuple().Reduce().Stop();
        var e = Refused(pickle);
        Assert.Contains($"'{module}.{name}'", e.Message);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData((byte)'i', "'i'")] // INST: instantiates a class by name
    [InlineData((byte)'o', "'o'")] // OBJ
    [InlineData((byte)0x81, "0x81")] // NEWOBJ
    [InlineData((byte)'P', "'P'")] // PERSID (text)
    [InlineData((byte)0x82, "0x82")] // EXT1
    public void ForbiddenOpcodesAreRefusedNamingThem(byte op, string shown)
    {
        var e = Refused(new PickleBuilder().Op(op).Stop());
        Assert.Contains(shown, e.Message);
    }

    [Fact]
    public void AllowedGlobalsUsedOddlyAreStillRefused()
    {
        // A persistent id that is not a storage, and an allowed dtype marker used as a callable.
        Assert.Contains("persistent id", Refused(new PickleBuilder().Str("x").Op((byte)'Q').Stop()).Message);
        Assert.Contains("torch.float32", Refused(new PickleBuilder().Global("torch", "float32").Op((byte)')').Reduce().Stop()).Message);
    }

    [Fact]
    public void TensorReachingPastItsStorageIsRefused()
    {
        byte[] pickle = new PickleBuilder().Op((byte)'}').Str("w").Tensor("FloatStorage", "0", 2, 1, new[] { 2 }, new[] { 1 }).Op((byte)'s').Stop();
        Assert.Contains("past the end of storage", Refused(pickle).Message);
    }

    [Fact]
    public void TruncatedPickleIsRefused() => Assert.Contains("truncated", Refused(new PickleBuilder().Op((byte)'X', 10, 0, 0, 0, (byte)'a').Stop()).Message);

    [SkippableFact]
    public void TruncatedZipIsAClearError()
    {
        byte[] original = File.ReadAllBytes(Path.Combine(GoldenCases.Dir("bert"), "bin", "pytorch_model.bin"));
        using var tmp = new TempDir();
        string path = tmp.File("cut.bin");
        File.WriteAllBytes(path, original[..(original.Length / 2)]);
        var e = Assert.Throws<FinetuneException>(() => TorchPickle.Load(path).Dispose());
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AFileThatIsNotAZipIsAClearError()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("x.bin"), "hello");
        var e = Assert.Throws<FinetuneException>(() => TorchPickle.Load(tmp.File("x.bin")).Dispose());
        Assert.Contains("not a readable torch.save zip", e.Message);
    }
}

public class TorchPickleFormatTests
{
    [Fact]
    public void BigEndianArchivesAreByteSwapped()
    {
        using var tmp = new TempDir();
        byte[] pickle = new PickleBuilder().Op((byte)'}').Str("w").Tensor("FloatStorage", "0", 2, 0, new[] { 2 }, new[] { 1 }).Op((byte)'s').Stop();
        byte[] data = { 0x3F, 0xC0, 0, 0, 0xC0, 0x20, 0, 0 }; // 1.5f, -2.5f big-endian
        string path = tmp.File("be.bin");
        PickleBuilder.WriteArchive(path, pickle, ("0", data));
        using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Update))
        using (var s = zip.CreateEntry("archive/byteorder").Open())
            s.Write("big"u8);
        using var ck = TorchPickle.Load(path);
        Assert.Equal(new[] { 1.5f, -2.5f }, ck.ReadFloat("w"));
    }

    [Fact]
    public void ShardedBinCheckpointsOpenThroughTheirIndex()
    {
        using var tmp = new TempDir();
        for (int shard = 0; shard < 2; shard++)
        {
            string name = shard == 0 ? "a" : "b";
            byte[] pickle = new PickleBuilder().Op((byte)'}').Str(name).Tensor("FloatStorage", "0", 1, 0, new[] { 1 }, new[] { 1 }).Op((byte)'s').Stop();
            PickleBuilder.WriteArchive(tmp.File($"pytorch_model-0000{shard + 1}-of-00002.bin"), pickle, ("0", BitConverter.GetBytes(shard + 0.5f)));
        }
        File.WriteAllText(tmp.File("pytorch_model.bin.index.json"),
            "{\"metadata\": {\"total_size\": 8}, \"weight_map\": {\"a\": \"pytorch_model-00001-of-00002.bin\", \"b\": \"pytorch_model-00002-of-00002.bin\"}}");
        using var ck = Checkpoint.Open(tmp.Path);
        Assert.Equal(new[] { 0.5f }, ck.ReadFloat("a"));
        Assert.Equal(new[] { 1.5f }, ck.ReadFloat("b"));
        File.WriteAllText(tmp.File("pytorch_model.bin.index.json"), "{\"weight_map\": {\"a\": \"../elsewhere.bin\"}}");
        Assert.Contains("outside the folder", Assert.Throws<FinetuneException>(() => Checkpoint.Open(tmp.Path)).Message);
    }

    [Fact]
    public void LegacyNonZipTorchFilesAreRefusedClearly()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp.File("old.bin"), new PickleBuilder().Int(119547037).Stop());
        var e = Assert.Throws<FinetuneException>(() => TorchPickle.Load(tmp.File("old.bin")));
        Assert.Contains("legacy torch.save format", e.Message);
    }
}
