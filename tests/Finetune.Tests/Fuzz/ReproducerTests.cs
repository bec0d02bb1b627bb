using System.Text;
using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;

namespace Finetune.Tests.Fuzz;

/// <summary>
/// Every input of the outside fuzzing campaign (issue 14) that crashed, hung or ate memory, as a fixed case:
/// each must end with the documented exit code and a message naming the file and the field, within a bound.
/// </summary>
public class ReproducerTests
{
    private const string SmallBert = """{"model_type":"bert","vocab_size":100,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":16}""";

    private static void AssertRefused(Outcome o, int code, params string[] named)
    {
        Assert.True(o.Code == code, $"exit {o.Code}, expected {code}: {o.Message}");
        Assert.DoesNotContain("   at ", o.Message);
        foreach (string n in named) Assert.Contains(n, o.Message);
    }

    private static JsonObject Config(string changes)
    {
        var o = JsonNode.Parse(SmallBert)!.AsObject();
        foreach (var (k, v) in JsonNode.Parse(changes)!.AsObject()) o[k] = v?.DeepClone();
        return o;
    }

    // ---- config.json: ranges, overflow, layer count (convert reads the config before anything else) ----

    [Theory]
    [InlineData("""{"num_attention_heads": 0}""", "num_attention_heads")]
    [InlineData("""{"num_hidden_layers": -1}""", "num_hidden_layers")]
    [InlineData("""{"hidden_size": -8}""", "hidden_size")]
    [InlineData("""{"intermediate_size": -1}""", "intermediate_size")]
    [InlineData("""{"vocab_size": -1}""", "vocab_size")]
    [InlineData("""{"max_position_embeddings": -1}""", "max_position_embeddings")]
    [InlineData("""{"classifier_dropout": 2.0}""", "classifier_dropout")]
    [InlineData("""{"hidden_dropout_prob": -0.5}""", "hidden_dropout_prob")]
    [InlineData("""{"hidden_size": 2147483647, "num_attention_heads": 1}""", "hidden_size")]
    [InlineData("""{"hidden_size": 65536, "vocab_size": 100000, "num_attention_heads": 1}""", "vocab_size")]
    [InlineData("""{"num_hidden_layers": 1000000000}""", "num_hidden_layers")]
    [InlineData("""{"hidden_size": 10, "num_attention_heads": 3}""", "num_attention_heads")]
    [InlineData("""{"num_labels": -3}""", "num_labels")]
    public void AConfigOutOfRangeIsInvalidInputNamingTheField(string changes, string field)
    {
        using var dir = new TempDir();
        string model = Directory.CreateDirectory(dir.File("model")).FullName;
        File.WriteAllText(Path.Combine(model, "config.json"), Config(changes).ToJsonString());
        var o = Bounded.Cli("convert", "--model", model, "--output", dir.File("out"));
        AssertRefused(o, 3, Path.Combine(model, "config.json"), field);
    }

    [Fact]
    public void TheParameterBudgetIsVisibleInTheMessage()
    {
        using var dir = new TempDir();
        string path = dir.File("config.json");
        // 1000 layers of hidden 16384: each matrix fits an array, the whole model is ~25 TB of float32, more than any machine.
        File.WriteAllText(path, Config("""{"hidden_size": 16384, "intermediate_size": 16384, "num_hidden_layers": 1000, "num_attention_heads": 16}""").ToJsonString());
        var o = Bounded.Library(() => AutoConfig.FromPretrained(path), path);
        AssertRefused(o, 3, path, "FINETUNE_MAX_MODEL_BYTES", "GiB");
    }

    [Fact]
    public void ADuplicateKeyKeepsTheLastValueAsPythonDoes()
    {
        using var dir = new TempDir();
        string path = dir.File("config.json");
        File.WriteAllText(path, SmallBert.Replace("\"hidden_size\":8", "\"hidden_size\":9999,\"vocab_size\":7,\"hidden_size\":8"));
        var config = (BertConfig)AutoConfig.FromPretrained(path);
        Assert.Equal(8, config.HiddenSize);
        Assert.Equal(7, config.VocabSize);
        // json.load keeps the key where it first appeared.
        Assert.Equal(["model_type", "vocab_size", "hidden_size"], config.Fields.Select(kv => kv.Key).Take(3));
    }

    [SkippableTheory]
    [InlineData("""{"num_hidden_layers": 1000}""", "num_hidden_layers")]
    [InlineData("""{"vocab_size": 999}""", "vocab_size")]
    public void AConfigThatDoesNotFitItsCheckpointFailsBeforeBuilding(string changes, string field)
    {
        string golden = SharedData.Require("golden/models/bert");
        using var dir = new TempDir();
        string model = Directory.CreateDirectory(dir.File("model")).FullName;
        File.Copy(Path.Combine(golden, "model.safetensors"), Path.Combine(model, "model.safetensors"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(golden, "config.json")))!.AsObject();
        foreach (var (k, v) in JsonNode.Parse(changes)!.AsObject()) config[k] = v?.DeepClone();
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        var o = Bounded.Cli("convert", "--model", model, "--output", dir.File("out"));
        AssertRefused(o, 3, model, field);
    }

    // ---- safetensors headers ----

    private static string SafeTensorsModel(TempDir dir, byte[] header)
    {
        string model = Directory.CreateDirectory(dir.File("model")).FullName;
        File.WriteAllText(Path.Combine(model, "config.json"), SmallBert);
        using var f = File.Create(Path.Combine(model, "model.safetensors"));
        f.Write(BitConverter.GetBytes((ulong)header.Length));
        f.Write(header);
        f.Write(new byte[4]);
        return model;
    }

    [Theory]
    [InlineData("""{"a\ud800b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "lone surrogate")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}""", "data_offsets")]
    public void ASafeTensorsHeaderWithBadTextOrTypesIsInvalidInput(string header, string named)
    {
        using var dir = new TempDir();
        string model = SafeTensorsModel(dir, Encoding.UTF8.GetBytes(header));
        var o = Bounded.Cli("convert", "--model", model, "--output", dir.File("out"));
        AssertRefused(o, 3, Path.Combine(model, "model.safetensors"), named);
    }

    [Fact]
    public void RawInvalidUtf8InATensorNameIsInvalidInputWithItsPosition()
    {
        using var dir = new TempDir();
        byte[] header = [.. "{\"a"u8, 0xFF, 0xFE, .. "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8];
        string model = SafeTensorsModel(dir, header);
        var o = Bounded.Cli("convert", "--model", model, "--output", dir.File("out"));
        AssertRefused(o, 3, Path.Combine(model, "model.safetensors"), "invalid UTF-8", ":1:2:");
    }

    // ---- data rows and tokenize input ----

    [Fact]
    public void ALoneSurrogateInAJsonlRowIsInvalidInputWithLineAndColumn()
    {
        using var dir = new TempDir();
        string path = dir.File("rows.jsonl");
        File.WriteAllText(path, "{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"a\\ud800b\", \"label\": 0}\n");
        var o = Bounded.Cli("dataset", "info", path);
        AssertRefused(o, 3, path + ":2:10", "lone surrogate");
    }

    private static string WordLevelTokenizer(TempDir dir, string vocab = """{"<unk>":0,"a":1,"b":2}""")
    {
        string model = Directory.CreateDirectory(dir.File("tok")).FullName;
        File.WriteAllText(Path.Combine(model, "tokenizer.json"),
            $$$"""{"version":"1.0","pre_tokenizer":{"type":"Whitespace"},"model":{"type":"WordLevel","unk_token":"<unk>","vocab":{{{vocab}}}}}""");
        return model;
    }

    [Fact]
    public void ALoneSurrogateInATokenizeLineIsInvalidInput()
    {
        using var dir = new TempDir();
        string model = WordLevelTokenizer(dir);
        File.WriteAllText(dir.File("in.jsonl"), "{\"text\": \"a b\"}\n{\"text\": \"a\\udc00\"}\n");
        var o = Bounded.Cli("tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        AssertRefused(o, 3, dir.File("in.jsonl") + ":2:", "lone surrogate");
        Assert.False(File.Exists(dir.File("out.jsonl")));
    }

    [Fact]
    public void PaddingToAHugeMaxLengthIsRefusedNotAllocated()
    {
        using var dir = new TempDir();
        string model = WordLevelTokenizer(dir);
        File.WriteAllText(dir.File("in.jsonl"), "{\"text\": \"a\", \"max_length\": 2000000000, \"padding\": \"max_length\"}\n");
        var o = Bounded.Cli("tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        AssertRefused(o, 3, dir.File("in.jsonl") + " line 1", "max_length", "--max-length-limit");
        Assert.True(o.AllocatedBytes < 1L << 30, $"{o.AllocatedBytes} bytes allocated");
    }

    [Fact]
    public void AnExplicitMaxLengthLimitCapsPaddingAndAllowsWhatFits()
    {
        using var dir = new TempDir();
        string model = WordLevelTokenizer(dir);
        File.WriteAllText(dir.File("in.jsonl"), "{\"text\": \"a\", \"max_length\": 16, \"padding\": \"max_length\"}\n");
        var refused = Bounded.Cli("tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"), "--max-length-limit", "8");
        AssertRefused(refused, 3, "line 1", "8");
        var allowed = Bounded.Cli("tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"), "--max-length-limit", "16");
        Assert.True(allowed.Code == 0, allowed.Message);
        Assert.Equal(16, JsonNode.Parse(File.ReadAllText(dir.File("out.jsonl")))!["input_ids"]!.AsArray().Count);
    }

    // ---- tokenizer ids ----

    private static string ByteLevelBpe(TempDir dir, string vocabJson)
    {
        string model = Directory.CreateDirectory(dir.File("bpe")).FullName;
        File.WriteAllText(Path.Combine(model, "vocab.json"), vocabJson);
        File.WriteAllText(Path.Combine(model, "merges.txt"), "#version: 0.2\n");
        return model;
    }

    [Theory]
    [InlineData("""{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"<mask>":4,"a":-5}""", "-5")]
    [InlineData("""{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"<mask>":4,"a":2147483000}""", "2147483000")]
    [InlineData("""{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"<mask>":4,"a":99999999999}""", "99999999999")]
    public void VocabJsonIdsOutOfRangeAreInvalidInput(string vocab, string id)
    {
        using var dir = new TempDir();
        string model = ByteLevelBpe(dir, vocab);
        File.WriteAllText(dir.File("in.jsonl"), "{\"text\": \"a\"}\n");
        var o = Bounded.Cli("tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        AssertRefused(o, 3, Path.Combine(model, "vocab.json"), id);
        Assert.True(o.AllocatedBytes < 1L << 30, $"{o.AllocatedBytes} bytes allocated");
    }

    [Fact]
    public void ATokenizerJsonIdOfIntMaxIsInvalidInput()
    {
        using var dir = new TempDir();
        string model = WordLevelTokenizer(dir, """{"<unk>":0,"a":2147483647}""");
        File.WriteAllText(dir.File("in.jsonl"), "{\"text\": \"a\"}\n");
        var o = Bounded.Cli("tokenize", "--model", model, "--input", dir.File("in.jsonl"), "--output", dir.File("out.jsonl"));
        AssertRefused(o, 3, Path.Combine(model, "tokenizer.json"), "2147483647");
        Assert.True(o.AllocatedBytes < 1L << 30, $"{o.AllocatedBytes} bytes allocated");
    }

    // ---- wide rows ----

    [Theory]
    [InlineData("csv", ',')]
    [InlineData("tsv", '\t')]
    public void ARowWithMoreColumnsThanTheLimitIsInvalidInput(string ext, char delimiter)
    {
        using var dir = new TempDir();
        string path = dir.File("wide." + ext);
        File.WriteAllText(path, string.Join(delimiter, Enumerable.Range(0, 100_000).Select(i => "c" + i)) + "\n" + string.Join(delimiter, Enumerable.Repeat("1", 100_000)) + "\n");
        var o = Bounded.Cli("dataset", "info", path);
        AssertRefused(o, 3, path + ":1", "16384 columns", "FINETUNE_MAX_COLUMNS");
    }

    [Fact]
    public void AJsonlObjectWithMoreKeysThanTheLimitIsInvalidInput()
    {
        using var dir = new TempDir();
        string path = dir.File("wide.jsonl");
        File.WriteAllText(path, "{" + string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"k{i}\":{i}")) + "}\n");
        var o = Bounded.Cli("dataset", "info", path);
        AssertRefused(o, 3, path + ":1", "16384 keys", "FINETUNE_MAX_COLUMNS");
    }

    [Theory]
    [InlineData("csv")]
    [InlineData("jsonl")]
    public void ARowJustUnderTheColumnLimitLoads(string ext)
    {
        // 16000 columns: with the quadratic name lookup this took most of a minute; linear, it is a moment.
        using var dir = new TempDir();
        string path = dir.File("wide." + ext);
        const int N = 16_000;
        File.WriteAllText(path, ext == "csv"
            ? string.Join(',', Enumerable.Range(0, N).Select(i => "c" + i)) + "\n" + string.Join(',', Enumerable.Range(0, N)) + "\n"
            : "{" + string.Join(",", Enumerable.Range(0, N).Select(i => $"\"c{i}\":{i}")) + "}\n");
        var ds = Finetune.Data.Dataset.FromFile(path);
        Assert.Equal(N, ds.Features.Count);
        Assert.Equal(N - 1, Convert.ToInt64(ds.GetColumn("c" + (N - 1)).GetValue(0)));
    }

    [Fact]
    public void AFieldLongerThanTheLimitIsInvalidInput()
    {
        using var dir = new TempDir();
        string path = dir.File("long.csv");
        File.WriteAllText(path, "text,label\n\"" + new string('x', InputLimits.MaxFieldChars + 1) + "\",1\n");
        var o = Bounded.Cli("dataset", "info", path);
        AssertRefused(o, 3, path + ":2:1", "FINETUNE_MAX_FIELD_CHARS");
    }

    // ---- found by FuzzTests ----

    [SkippableTheory]
    [InlineData("\"pad_token_id\": 0", "\"pad_token_id\": -9223372036854775809", 3, "pad_token_id")]
    [InlineData("\"initializer_range\": 0.02", "\"initializer_range\": null", 3, "initializer_range")]
    [InlineData("\"position_embedding_type\": \"absolute\"", "\"position_embedding_type\": \"##\"", 7, "position_embedding_type")]
    public void AConfigFieldReadWhileBuildingNamesTheFile(string original, string replacement, int code, string field)
    {
        string golden = SharedData.Require("golden/models/bert");
        using var dir = new TempDir();
        string text = File.ReadAllText(Path.Combine(golden, "config.json"));
        Assert.Contains(original, text);
        File.WriteAllText(dir.File("config.json"), text.Replace(original, replacement));
        File.Copy(Path.Combine(golden, "model.safetensors"), dir.File("model.safetensors"));
        var o = Bounded.Library(() => AutoModelForSequenceClassification.FromPretrained(dir.Path), dir.Path);
        AssertRefused(o, code, dir.Path, field);
    }

    [Fact]
    public void AVocabTxtWithoutItsUnknownTokenNamesTheFolder()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("vocab.txt"), "[PAD]\n[CLS]\n[SEP]\na\n");
        var o = Bounded.Library(() => Finetune.Tokenizers.AutoTokenizer.FromPretrained(dir.Path), dir.Path);
        AssertRefused(o, 3, dir.Path, "[UNK]");
    }
}
