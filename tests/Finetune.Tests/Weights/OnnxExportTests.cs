using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Onnx;
using Finetune.Tensors;
using Finetune.Tests.Data;
using Finetune.Tests.Models;
using Finetune.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Finetune.Tests.Weights;

/// <summary>
/// ONNX export checked against an independent runtime: ONNX Runtime runs the exported graph on real
/// rotten_tomatoes sentences, padded to the longest, and gives our logits (or last hidden states) within 1e-4,
/// for every family. Small random-initialised configs: the point is the graph, not the weights.
/// </summary>
public class OnnxExportTests
{
    private const int Vocab = 30522;

    public static TheoryData<string> Families => new() { "bert", "distilbert", "roberta", "albert", "electra" };

    /// <summary>A tiny config of each family (odd sizes so a transposed or mis-split weight shows).</summary>
    internal static JsonObject Config(string family)
    {
        var c = new JsonObject
        {
            ["model_type"] = family,
            ["vocab_size"] = Vocab,
            ["id2label"] = new JsonObject { ["0"] = "negative", ["1"] = "neutral", ["2"] = "positive" },
            ["label2id"] = new JsonObject { ["negative"] = 0, ["neutral"] = 1, ["positive"] = 2 },
            ["initializer_range"] = 0.2,
        };
        switch (family)
        {
            case "distilbert":
                c["dim"] = 32; c["n_heads"] = 4; c["hidden_dim"] = 37; c["n_layers"] = 2; c["max_position_embeddings"] = 512; c["pad_token_id"] = 0;
                break;
            default:
                c["hidden_size"] = 32; c["num_attention_heads"] = 4; c["intermediate_size"] = 37; c["num_hidden_layers"] = 2;
                c["max_position_embeddings"] = 512; c["type_vocab_size"] = 2; c["layer_norm_eps"] = 1e-12; c["hidden_act"] = "gelu"; c["pad_token_id"] = 0;
                break;
        }
        if (family == "roberta")
        {
            c["max_position_embeddings"] = 514; c["type_vocab_size"] = 1; c["pad_token_id"] = 1; c["layer_norm_eps"] = 1e-5;
        }
        if (family == "albert")
        {
            c["embedding_size"] = 16; c["num_hidden_layers"] = 3; c["num_hidden_groups"] = 1; c["inner_group_num"] = 1; c["hidden_act"] = "gelu_new";
        }
        if (family == "electra") c["embedding_size"] = 16;
        return c;
    }

    internal static PretrainedConfig MakeConfig(string family) => AutoConfig.Families[family](Config(family));

    /// <summary>Eight rotten_tomatoes test sentences of different lengths, tokenized, padded with the model's pad id.</summary>
    internal static (long[] Ids, long[] Mask, long[] Types, int Batch, int Seq) Batch(int padId, int rows = 8)
    {
        var test = SharedDatasets.Get("rotten_tomatoes")["test"];
        var texts = test.GetStrings("text").Take(rows).Select(t => t!).ToList();
        var tok = AutoTokenizer.FromPretrained(SharedData.Require("models/bert-base-uncased"));
        var enc = tok.EncodeBatch(texts, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128 });
        int seq = enc.Rows.Max(r => r.Length);
        var ids = new long[rows * seq];
        var mask = new long[rows * seq];
        var types = new long[rows * seq];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < seq; i++)
            {
                bool real = i < enc[r].Length;
                ids[r * seq + i] = real ? enc[r].InputIds[i] : padId;
                mask[r * seq + i] = real ? 1 : 0;
            }
        Assert.True(enc.Rows.Min(r => r.Length) < seq, "the batch should need padding");
        return (ids, mask, types, rows, seq);
    }

    internal static float[] Ours(PreTrainedModel model, (long[] Ids, long[] Mask, long[] Types, int Batch, int Seq) b, bool classifier)
    {
        model.Eval();
        var ids = IntTensor.FromArray(b.Ids.Select(v => (int)v).ToArray(), b.Batch, b.Seq);
        var mask = IntTensor.FromArray(b.Mask.Select(v => (int)v).ToArray(), b.Batch, b.Seq);
        var types = IntTensor.FromArray(b.Types.Select(v => (int)v).ToArray(), b.Batch, b.Seq);
        using (Finetune.Tensors.Tensor.NoGrad())
        {
            return classifier
                ? ((SequenceClassificationModel)model).Forward(ids, mask, types).Logits.ToArray()
                : ((EncoderModel)model).Forward(ids, mask, types).LastHiddenState.ToArray();
        }
    }

    internal static float[] Ort(string path, (long[] Ids, long[] Mask, long[] Types, int Batch, int Seq) b, out string outputName)
    {
        using var session = new InferenceSession(path);
        var feeds = new List<NamedOnnxValue>();
        int[] dims = [b.Batch, b.Seq];
        foreach (var input in session.InputMetadata)
        {
            long[] data = input.Key switch { "input_ids" => b.Ids, "attention_mask" => b.Mask, "token_type_ids" => b.Types, _ => throw new InvalidOperationException(input.Key) };
            Assert.Equal(TensorElementType.Int64, input.Value.ElementDataType);
            Assert.Equal([-1, -1], input.Value.Dimensions); // both axes dynamic
            feeds.Add(NamedOnnxValue.CreateFromTensor(input.Key, new DenseTensor<long>(data, dims)));
        }
        using var results = session.Run(feeds);
        var output = results.First(r => r.Name is "logits" or "last_hidden_state");
        outputName = output.Name;
        return output.AsTensor<float>().ToArray();
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void OnnxRuntimeGivesOurLogitsOnPaddedSentences(string family)
    {
        var config = MakeConfig(family);
        var model = AutoModelForSequenceClassification.FromConfig(config, new Generator(7));
        var batch = Batch(config.PadTokenId ?? 0);
        using var tmp = new TempDir();
        string path = tmp.File("model.onnx");
        OnnxExport.Export(model, path);
        float[] ours = Ours(model, batch, classifier: true);
        float[] ort = Ort(path, batch, out string name);
        Assert.Equal("logits", name);
        Assert.Equal(batch.Batch * 3, ort.Length);
        Close.Elementwise(family, ours, ort, 1e-4, 1e-4);
        // The labels differ between sentences, so the comparison is not of near-constant outputs.
        Assert.True(ours.Max() - ours.Min() > 0.01, "logits are all alike");
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void OnnxRuntimeGivesOurLastHiddenStateForABareEncoder(string family)
    {
        var config = MakeConfig(family);
        var model = AutoModel.FromConfig(config, new Generator(8));
        var batch = Batch(config.PadTokenId ?? 0, rows: 4);
        using var tmp = new TempDir();
        string path = tmp.File("encoder.onnx");
        OnnxExport.Export(model, path);
        float[] ours = Ours(model, batch, classifier: false);
        float[] ort = Ort(path, batch, out string name);
        Assert.Equal("last_hidden_state", name);
        Assert.Equal(ours.Length, ort.Length);
        // Padded positions too: their hidden states are computed from the unmasked tokens on both sides.
        Close.Elementwise(family, ours, ort, 1e-4, 1e-4);
    }

    [SkippableFact]
    public void ExportOnnxCommandWritesTheClassifierOfASavedFolder()
    {
        var config = MakeConfig("bert");
        var model = AutoModelForSequenceClassification.FromConfig(config, new Generator(9));
        var batch = Batch(0, rows: 4);
        using var tmp = new TempDir();
        model.SavePretrained(tmp.File("model"));
        var (code, stdout, err) = Finetune.Tests.Cli.CliRunner.Run("export", "onnx", "--model", tmp.File("model"), "--output", tmp.File("out/model.onnx"));
        Assert.True(code == 0, err);
        Assert.Contains("logits", stdout);
        Assert.Single(Directory.GetFiles(tmp.File("out"))); // no temporary file left beside it
        Close.Elementwise("cli", Ours(model, batch, classifier: true), Ort(tmp.File("out/model.onnx"), batch, out _), 1e-4, 1e-4);
        // A folder that is not there: exit 4, nothing written.
        Assert.Equal(4, Finetune.Tests.Cli.CliRunner.Run("export", "onnx", "--model", tmp.File("missing"), "--output", tmp.File("x.onnx")).Code);
        Assert.False(File.Exists(tmp.File("x.onnx")));
    }
}
