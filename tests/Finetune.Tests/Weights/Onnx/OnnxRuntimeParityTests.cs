using System.Text.Json.Nodes;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Onnx;
using Finetune.Tensors;
using Finetune.Tests.Data;
using Finetune.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Finetune.Tests.Weights.Onnx;

/// <summary>
/// The converted models against ONNX Runtime running each package's own ONNX file: last hidden state, pooler
/// output (MiniLM's graph has one), and sentence embeddings pooled from ORT's hidden states, on real sentences
/// (rotten_tomatoes test singles and glue/mrpc validation pairs, varied lengths, padded batches).
/// </summary>
public class OnnxRuntimeParityTests
{
    private const int Singles = 144, Pairs = 96, Batch = 16, MaxLength = 128;

    /// <summary>
    /// numpy.allclose's rule, element by element with b = ORT's value: |ours − b| ≤ 1e-5 + 1e-4·|b| (absolute
    /// 1e-5 plus relative 1e-4), over every element of every row, padded positions included.
    /// </summary>
    private static void AssertClose(ReadOnlySpan<float> ours, ReadOnlySpan<float> ort, string what)
    {
        Assert.Equal(ort.Length, ours.Length);
        for (int i = 0; i < ort.Length; i++)
        {
            double diff = Math.Abs((double)ours[i] - ort[i]);
            if (!(diff <= 1e-5 + 1e-4 * Math.Abs(ort[i])))
                Assert.Fail($"{what}: element {i}: ours {ours[i]} vs ONNX Runtime {ort[i]} (|diff| {diff})");
        }
    }

    private static (List<string> Texts, List<string>? Pairs)[] Batches()
    {
        var rt = SharedDatasets.Get("rotten_tomatoes")["test"].GetStrings("text");
        var mrpc = SharedDatasets.Get("glue/mrpc")["validation"];
        var s1 = mrpc.GetStrings("sentence1");
        var s2 = mrpc.GetStrings("sentence2");
        var batches = new List<(List<string>, List<string>?)>();
        for (int i = 0; i < Singles; i += Batch) batches.Add((rt.Skip(i).Take(Batch).Select(t => t!).ToList(), null));
        for (int i = 0; i < Pairs; i += Batch) batches.Add((s1.Skip(i).Take(Batch).Select(t => t!).ToList(), s2.Skip(i).Take(Batch).Select(t => t!).ToList()));
        return batches.ToArray();
    }

    [SkippableTheory]
    [InlineData(OnnxTestFiles.MiniLm, true)]
    [InlineData(OnnxTestFiles.Arctic, false)]
    public void HiddenStatesPoolerAndEmbeddingsMatchOnnxRuntime(string modelId, bool meanPooling)
    {
        var batches = Batches();
        var package = OnnxTestFiles.Require(modelId);
        using var tmp = new TempDir();
        using (var onnx = package.OpenOnnx())
        using (var vocab = package.OpenVocab())
            OnnxImport.ToPretrainedFolder(onnx, vocab, tmp.Path);
        // sentence-transformers' modules for these models: MiniLM mean + Normalize, arctic cls + Normalize.
        File.WriteAllText(tmp.File("modules.json"), """
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
            """);
        Directory.CreateDirectory(tmp.File("1_Pooling"));
        File.WriteAllText(tmp.File("1_Pooling/config.json"), new JsonObject
        {
            ["word_embedding_dimension"] = 384,
            ["pooling_mode_cls_token"] = !meanPooling,
            ["pooling_mode_mean_tokens"] = meanPooling,
            ["pooling_mode_max_tokens"] = false,
            ["pooling_mode_mean_sqrt_len_tokens"] = false,
        }.ToJsonString());
        File.WriteAllText(tmp.File("sentence_bert_config.json"), $$"""{"max_seq_length": {{MaxLength}}, "do_lower_case": false}""");

        var model = AutoModel.FromPretrained(tmp.Path);
        var tokenizer = AutoTokenizer.FromPretrained(tmp.Path);
        var embedder = SentenceEmbedder.FromPretrained(tmp.Path);
        Assert.Equal(meanPooling ? PoolingMode.Mean : PoolingMode.Cls, Assert.Single(embedder.Pooling));
        Assert.True(embedder.Normalize);
        using var session = new InferenceSession(OnnxTestFiles.ReadOnnx(modelId));
        string? poolerOutput = session.OutputMetadata.Keys.FirstOrDefault(k => k != "last_hidden_state");
        Assert.Equal(meanPooling, poolerOutput != null); // MiniLM's graph ends in the pooler's Tanh, arctic's does not
        int sentences = 0, padded = 0;
        foreach (var (texts, pairs) in batches)
        {
            var enc = tokenizer.EncodeBatch(texts, pairs, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength, Padding = PaddingStrategy.Longest });
            int b = texts.Count, t = enc.Rows[0].InputIds.Length;
            int[] ids = enc.Rows.SelectMany(r => r.InputIds).ToArray(), mask = enc.Rows.SelectMany(r => r.AttentionMask).ToArray(), types = enc.Rows.SelectMany(r => r.TokenTypeIds).ToArray();
            padded += mask.Count(m => m == 0);
            sentences += b;

            float[] ours, oursPooled;
            using (TensorScope.Begin())
            using (Finetune.Tensors.Tensor.NoGrad())
            {
                var output = model.Forward(IntTensor.FromArray(ids, b, t), IntTensor.FromArray(mask, b, t), IntTensor.FromArray(types, b, t));
                ours = output.LastHiddenState.ToArray();
                oursPooled = output.PooledOutput?.ToArray() ?? [];
            }
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Select(x => (long)x).ToArray(), [b, t])),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask.Select(x => (long)x).ToArray(), [b, t])),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types.Select(x => (long)x).ToArray(), [b, t])),
            };
            using var results = session.Run(inputs);
            float[] ort = results.First(r => r.Name == "last_hidden_state").AsEnumerable<float>().ToArray();
            AssertClose(ours, ort, $"{modelId} last_hidden_state, batch of '{texts[0]}'");
            if (poolerOutput != null)
                AssertClose(oursPooled, results.First(r => r.Name == poolerOutput).AsEnumerable<float>().ToArray(), $"{modelId} pooler output");

            if (pairs != null) continue; // sentence embeddings are of single texts
            float[][] embeddings = embedder.Encode(texts, 7); // a different batching: padding must not matter
            for (int r = 0; r < b; r++)
                AssertClose(embeddings[r], PoolByHand(ort.AsSpan(r * t * 384, t * 384), mask.AsSpan(r * t, t), meanPooling), $"{modelId} embedding of '{texts[r]}'");
        }
        Assert.True(sentences >= 200 && padded > 0, $"{sentences} sentences, {padded} padded positions");
    }

    /// <summary>sentence-transformers' mean (over the mask) or CLS pooling, then x / max(‖x‖₂, 1e-12).</summary>
    private static float[] PoolByHand(ReadOnlySpan<float> states, ReadOnlySpan<int> mask, bool mean)
    {
        var v = new double[384];
        int kept = 0;
        for (int i = 0; i < mask.Length; i++)
        {
            if (mask[i] == 0 || (!mean && i > 0)) continue;
            kept++;
            for (int d = 0; d < 384; d++) v[d] += states[i * 384 + d];
        }
        double norm = Math.Sqrt(v.Sum(x => (x / kept) * (x / kept)));
        return v.Select(x => (float)(x / kept / Math.Max(norm, 1e-12))).ToArray();
    }
}
