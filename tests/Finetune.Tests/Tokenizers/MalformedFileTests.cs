using Finetune.Tokenizers;

namespace Finetune.Tests.Tokenizers;

/// <summary>Broken tokenizer files give one FinetuneException each, naming the file.</summary>
public class MalformedFileTests
{
    private const string GoodModel = """{"type":"WordLevel","unk_token":"<unk>","vocab":{"<unk>":0,"a":1}}""";

    private static FinetuneException Load(string tokenizerJson, out string path)
    {
        var dir = new TempDir();
        path = dir.File("tokenizer.json");
        File.WriteAllText(path, tokenizerJson);
        try { return Assert.Throws<FinetuneException>(() => AutoTokenizer.FromPretrained(dir.Path)); }
        finally { dir.Dispose(); }
    }

    [Fact]
    public void BadJson()
    {
        var e = Load("{\"model\": {\"type\": ", out string path);
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void MissingModel()
    {
        var e = Load("""{"version":"1.0","normalizer":null}""", out string path);
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains(path, e.Message);
        Assert.Contains("\"model\"", e.Message);
    }

    [Theory]
    [InlineData("normalizer")]
    [InlineData("pre_tokenizer")]
    [InlineData("post_processor")]
    [InlineData("decoder")]
    public void UnknownComponentType(string component)
    {
        var e = Load($$"""{"{{component}}":{"type":"Frobnicate"},"model":{{GoodModel}}}""", out string path);
        Assert.Equal(ErrorKind.Unsupported, e.Kind);
        Assert.Contains(path, e.Message);
        Assert.Contains($"unknown {component} type \"Frobnicate\"", e.Message);
    }

    [Fact]
    public void UnknownModelType()
    {
        var e = Load("""{"model":{"type":"Frobnicate","vocab":{}}}""", out string path);
        Assert.Contains(path, e.Message);
        Assert.Contains("unknown model type", e.Message);
    }

    [Fact]
    public void MergesNamingUnknownTokens()
    {
        var e = Load("""{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b","a c"]}}""", out string path);
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains(path, e.Message);
        Assert.Contains("merge 2 'a c' names 'c'", e.Message);
    }

    [Fact]
    public void LegacyMergesNamingUnknownTokens()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("vocab.json"), """{"a":0,"b":1,"ab":2,"<s>":3,"</s>":4}""");
        File.WriteAllText(dir.File("merges.txt"), "#version: 0.2\na b\nab x\n");
        var e = Assert.Throws<FinetuneException>(() => AutoTokenizer.FromPretrained(dir.Path));
        Assert.Contains(dir.File("merges.txt"), e.Message);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void CorruptSentencePieceModel()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("spiece.model"), [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]);
        var e = Assert.Throws<FinetuneException>(() => AutoTokenizer.FromPretrained(dir.Path));
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains("spiece.model", e.Message);
    }

    [Fact]
    public void EmptyFolder()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FinetuneException>(() => AutoTokenizer.FromPretrained(dir.Path));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }
}
