using System.Text.Json.Nodes;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Tensors;
using Finetune.Tokenizers;

namespace Finetune.Serving;

/// <summary>
/// A bare encoder served for /embed: the last hidden state pooled as the folder's sentence-transformers config
/// says (<see cref="SentenceEmbedder"/>'s modules.json / 1_Pooling reading and its pooling arithmetic), so the
/// server's vectors are `finetune embed`'s. Normalisation is applied per request.
/// </summary>
public sealed class ServedEmbedder
{
    private readonly EncoderModel model;
    private readonly int hidden;

    private ServedEmbedder(string modelId, EncoderModel model, PreTrainedTokenizer tokenizer, SentenceEmbedder embedder)
    {
        ModelId = modelId;
        this.model = model;
        Tokenizer = tokenizer;
        Embedder = embedder;
        hidden = embedder.Dimension / embedder.Pooling.Count;
    }

    public static ServedEmbedder Load(string modelDirOrId, string? revision = null)
    {
        string dir = ModelLoading.ResolveFolder(modelDirOrId, revision);
        var model = AutoModel.FromPretrained(dir, new FromPretrainedOptions());
        var tokenizer = AutoTokenizer.FromPretrained(dir);
        var (pooling, normalize) = SentenceEmbedder.ReadModules(dir);
        int limit = model.Config is Models.Bert.BertConfig b ? b.MaxPositionEmbeddings : int.MaxValue;
        string st = Path.Combine(dir, "sentence_bert_config.json");
        int? configured = File.Exists(st) && AutoTokenizer.ReadJson(st) is JsonObject o && o["max_seq_length"] is JsonValue v && v.TryGetValue(out int n) ? n : null;
        int maxSeq = Math.Min(configured ?? Math.Min(tokenizer.ModelMaxLength, limit), limit);
        return new ServedEmbedder(modelDirOrId, model, tokenizer, new SentenceEmbedder(model, tokenizer, pooling, normalize, maxSeq));
    }

    public string ModelId { get; }
    public PreTrainedTokenizer Tokenizer { get; }
    public SentenceEmbedder Embedder { get; }

    /// <summary>Texts are truncated to this (sentence_bert_config.json's max_seq_length, else the model's length).</summary>
    public int MaxInputLength => Embedder.MaxSeqLength;

    public EncodeOptions EncodeOptions => new() { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxInputLength };

    /// <summary>One forward pass over rows of token ids (right-padded here); each row's pooled, unnormalised vector.</summary>
    public float[][] Pooled(IReadOnlyList<PredictionInput> rows)
    {
        int n = rows.Count, t = 0;
        foreach (var r in rows) t = Math.Max(t, r.InputIds.Length);
        var ids = new int[n * t];
        var mask = new int[n * t];
        var types = new int[n * t];
        if (Tokenizer.PadTokenId != 0) Array.Fill(ids, Tokenizer.PadTokenId);
        for (int r = 0; r < n; r++)
        {
            rows[r].InputIds.CopyTo(ids, r * t);
            if (rows[r].AttentionMask is int[] m) m.CopyTo(mask, r * t);
            else Array.Fill(mask, 1, r * t, rows[r].InputIds.Length);
            rows[r].TokenTypeIds?.CopyTo(types, r * t);
        }
        model.Eval();
        var result = new float[n][];
        using var scope = TensorScope.Begin();
        using (Tensor.NoGrad())
        {
            var output = model.Forward(IntTensor.FromArray(ids, n, t), IntTensor.FromArray(mask, n, t), IntTensor.FromArray(types, n, t));
            float[] states = output.LastHiddenState.ToArray();
            for (int r = 0; r < n; r++)
                result[r] = SentenceEmbedder.Embed(states.AsSpan(r * t * hidden, t * hidden), mask.AsSpan(r * t, t), hidden, Embedder.Pooling, normalize: false);
        }
        return result;
    }

    /// <summary>Scales to unit L2 norm as sentence-transformers' Normalize does (divides by max(‖x‖, 1e-12)).</summary>
    public static void L2Normalize(float[] v)
    {
        double sq = 0;
        foreach (float x in v) sq += (double)x * x;
        float norm = Math.Max((float)Math.Sqrt(sq), 1e-12f);
        for (int i = 0; i < v.Length; i++) v[i] /= norm;
    }
}
