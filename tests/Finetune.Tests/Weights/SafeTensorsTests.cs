using System.Buffers.Binary;
using System.Text;
using Finetune.Weights;

namespace Finetune.Tests.Weights;

public class SafeTensorsTests
{
    [SkippableTheory]
    [MemberData(nameof(GoldenCases.Names), MemberType = typeof(GoldenCases))]
    public void GoldenModelListsEveryParameterWithItsShape(string name)
    {
        string dir = GoldenCases.Dir(name);
        var expected = GoldenCases.CaseJson(dir).GetProperty("parameters");
        using var st = SafeTensors.Read(Path.Combine(dir, "model.safetensors"));
        Assert.Equal("pt", st.Metadata["format"]);
        int count = 0;
        foreach (var p in expected.EnumerateObject())
        {
            var info = st.Info(p.Name);
            Assert.Equal(DType.F32, info.DType);
            Assert.Equal(p.Value.EnumerateArray().Select(x => x.GetInt32()).ToArray(), info.Shape);
            count++;
        }
        Assert.Equal(count, st.Names.Count);
        // LayerNorm weights of a freshly initialised model are exactly one.
        string ln = st.Names.First(n => n.EndsWith("LayerNorm.weight", StringComparison.Ordinal));
        Assert.All(st.ReadFloat(ln), v => Assert.Equal(1f, v));
    }

    [SkippableFact]
    public void GoldenInputsReadAsIntegersMatchTheCaseDescription()
    {
        string dir = GoldenCases.Dir("bert");
        var batch = GoldenCases.CaseJson(dir).GetProperty("batch");
        using var st = SafeTensors.Read(Path.Combine(dir, "inputs.safetensors"));
        Assert.Equal(DType.I64, st.Info("attention_mask").DType);
        int[] mask = st.ReadInt32("attention_mask");
        int[] lengths = batch.GetProperty("lengths_real_tokens").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        for (int row = 0; row < 4; row++) Assert.Equal(lengths[row], mask.Skip(row * 64).Take(64).Sum());
        Assert.Equal(batch.GetProperty("labels").EnumerateArray().Select(x => x.GetInt64()).ToArray(), st.ReadInt64("labels"));
        Assert.Equal(101, st.ReadInt32("input_ids")[0]);
        Assert.Throws<FinetuneException>(() => st.ReadInt64("missing"));
    }

    [SkippableTheory]
    [MemberData(nameof(GoldenCases.Names), MemberType = typeof(GoldenCases))]
    public void WritingTheTensorsBackReproducesThePythonFileByteForByte(string name)
    {
        string original = Path.Combine(GoldenCases.Dir(name), "model.safetensors");
        using var tmp = new TempDir();
        using (var st = SafeTensors.Read(original))
        {
            var tensors = st.Names.Select(n => new NamedTensor(n, st.Info(n).Shape, st.ReadFloat(n))).ToList();
            tensors.Reverse(); // the writer sorts
            SafeTensors.Write(tmp.File("copy.safetensors"), tensors);
        }
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(tmp.File("copy.safetensors")));
    }

    [Fact]
    public void HalfAndBFloat16RoundTripWithRoundToNearestEven()
    {
        using var tmp = new TempDir();
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even one (1.0); 1 + 3*2^-8 goes up.
        float[] values = { 1f, -2.5f, 1.00390625f, 1.01171875f, 65504f, 1e-8f, float.PositiveInfinity, 0.1f };
        var tensor = new NamedTensor("t", new[] { 2, 4 }, values);
        SafeTensors.Write(tmp.File("h.safetensors"), new[] { tensor }, DType.F16);
        SafeTensors.Write(tmp.File("b.safetensors"), new[] { tensor }, DType.BF16);
        using var h = SafeTensors.Read(tmp.File("h.safetensors"));
        using var b = SafeTensors.Read(tmp.File("b.safetensors"));
        Assert.Equal(DType.F16, h.Info("t").DType);
        Assert.Equal(values.Select(v => (float)(Half)v).ToArray(), h.ReadFloat("t"));
        Assert.Equal(new[] { 1f, -2.5f, 1f, 1.015625f, 65536f, 1.0011717677116394e-08f, float.PositiveInfinity, 0.10009765625f }, b.ReadFloat("t"));
        Assert.Equal(new byte[] { 0x80, 0x3F }, b.RawBytes("t")[..2].ToArray());
    }

    [Fact]
    public void ShardedCheckpointSplitsAndReadsBack()
    {
        using var tmp = new TempDir();
        var tensors = Enumerable.Range(0, 5).Select(i => new NamedTensor($"w{i}", new[] { 10 }, Enumerable.Range(0, 10).Select(j => i * 100f + j).ToArray())).ToList();
        ShardedCheckpoint.WriteSafeTensors(tmp.Path, tensors, maxShardBytes: 80);
        Assert.True(File.Exists(tmp.File(SafeTensors.ShardName(3, 3))));
        Assert.False(File.Exists(tmp.File("model.safetensors")));
        using var ck = Checkpoint.Open(tmp.Path);
        Assert.Equal(5, ck.Names.Count);
        foreach (var t in tensors) Assert.Equal(t.Data.ToArray(), ck.ReadFloat(t.Name));
    }

    // ---- corruption: each one clear FinetuneException naming the file and, where there is one, the tensor ----

    private static (string Header, byte[] Data) Split(byte[] file)
    {
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (Encoding.UTF8.GetString(file, 8, n), file[(8 + n)..]);
    }

    private static byte[] Join(string header, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        data.CopyTo(result, 8 + h.Length);
        return result;
    }

    private static FinetuneException Corrupted(Func<byte[], byte[]> mutate)
    {
        byte[] original = File.ReadAllBytes(Path.Combine(GoldenCases.Dir("bert"), "model.safetensors"));
        using var tmp = new TempDir();
        string path = tmp.File("bad.safetensors");
        File.WriteAllBytes(path, mutate(original));
        var e = Assert.Throws<FinetuneException>(() => SafeTensors.Read(path).Dispose());
        Assert.Contains(path, e.Message);
        return e;
    }

    private static FinetuneException HeaderEdited(string from, string to) => Corrupted(f =>
    {
        var (header, data) = Split(f);
        Assert.Contains(from, header);
        return Join(header.Replace(from, to), data);
    });

    [SkippableFact]
    public void TruncatedDataIsReportedForTheLastTensor()
    {
        var e = Corrupted(f => f[..^10]);
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains("past the end", e.Message);
    }

    [SkippableFact]
    public void HeaderLengthPastEndOfFile()
    {
        var e = Corrupted(f => { BinaryPrimitives.WriteUInt64LittleEndian(f, (ulong)f.Length); return f; });
        Assert.Contains("header length", e.Message);
    }

    [SkippableFact]
    public void FileShorterThanTheLengthPrefix() => Assert.Contains("too short", Corrupted(f => f[..5]).Message);

    [SkippableFact]
    public void MalformedJson() => Assert.Contains("not valid JSON", HeaderEdited("\"__metadata__\":", "\"__metadata__\"").Message);

    [SkippableFact]
    public void OffsetsOutOfBounds()
    {
        var e = HeaderEdited("\"data_offsets\":[242568,242824]", "\"data_offsets\":[242568,9242824]");
        Assert.Contains("classifier.weight", e.Message);
    }

    [SkippableFact]
    public void OverlappingTensors()
    {
        // LayerNorm.weight moved onto LayerNorm.bias's bytes.
        var e = HeaderEdited("\"data_offsets\":[128,256]", "\"data_offsets\":[0,128]");
        Assert.Contains("overlaps", e.Message);
        Assert.Contains("bert.embeddings.LayerNorm", e.Message);
    }

    [SkippableFact]
    public void GapBetweenTensors()
    {
        var e = Corrupted(f =>
        {
            var (header, data) = Split(f);
            // Shift every tensor from LayerNorm.weight on by 4 bytes and add 4 bytes of data.
            string edited = System.Text.RegularExpressions.Regex.Replace(header, "\"data_offsets\":\\[(\\d+),(\\d+)\\]", m =>
            {
                long a = long.Parse(m.Groups[1].Value), b = long.Parse(m.Groups[2].Value);
                return a >= 128 ? $"\"data_offsets\":[{a + 4},{b + 4}]" : m.Value;
            });
            return Join(edited, data.Concat(new byte[4]).ToArray());
        });
        Assert.Contains("gap", e.Message);
        Assert.Contains("bert.embeddings.LayerNorm.weight", e.Message);
    }

    [SkippableFact]
    public void DtypeTimesShapeDifferentFromByteLength()
    {
        var e = HeaderEdited("\"bert.embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"", "\"bert.embeddings.LayerNorm.bias\":{\"dtype\":\"F16\"");
        Assert.Contains("bert.embeddings.LayerNorm.bias", e.Message);
        Assert.Contains("64 bytes", e.Message);
    }

    [SkippableFact]
    public void DuplicateNames()
    {
        var e = HeaderEdited("\"bert.embeddings.LayerNorm.weight\":", "\"bert.embeddings.LayerNorm.bias\":");
        Assert.Contains("listed twice", e.Message);
    }

    [SkippableFact]
    public void UnknownDtype()
    {
        var e = HeaderEdited("\"bert.embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"", "\"bert.embeddings.LayerNorm.bias\":{\"dtype\":\"F8_E9\"");
        Assert.Equal(ErrorKind.Unsupported, e.Kind);
        Assert.Contains("F8_E9", e.Message);
    }

    [Fact]
    public void MissingFileIsNotFound()
    {
        var e = Assert.Throws<FinetuneException>(() => SafeTensors.Read("/nonexistent/model.safetensors"));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }
}
