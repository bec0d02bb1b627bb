using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Tensors;
using Finetune.Tokenizers;

namespace Finetune.Inference;

/// <summary>How token states become one sentence vector (sentence-transformers' Pooling modes).</summary>
public enum PoolingMode
{
    /// <summary>The first token's state ([CLS]).</summary>
    Cls,
    /// <summary>Element-wise maximum over the tokens the attention mask keeps.</summary>
    Max,
    /// <summary>Average over the tokens the attention mask keeps.</summary>
    Mean,
    /// <summary>Sum over kept tokens divided by the square root of their count.</summary>
    MeanSqrtLen,
}

/// <summary>
/// sentence-transformers' SentenceTransformer(dir).encode: the encoder's last hidden state, pooled as
/// `1_Pooling/config.json` says (several modes are concatenated in sentence-transformers' order cls, max, mean,
/// mean_sqrt_len), then L2-normalised when `modules.json` lists a Normalize module. A folder without modules.json
/// gets mean pooling and no normalisation, as sentence-transformers gives a plain transformers model.
/// </summary>
public sealed class SentenceEmbedder
{
    private readonly EncoderModel _model;
    private readonly PreTrainedTokenizer _tokenizer;

    public SentenceEmbedder(EncoderModel model, PreTrainedTokenizer tokenizer, IReadOnlyList<PoolingMode> pooling, bool normalize, int maxSeqLength)
    {
        if (pooling.Count == 0) throw FinetuneException.Invalid("A sentence embedder needs at least one pooling mode.");
        if (maxSeqLength <= 0) throw FinetuneException.Invalid($"max_seq_length must be positive, got {maxSeqLength}.");
        _model = model;
        _tokenizer = tokenizer;
        Pooling = pooling;
        Normalize = normalize;
        MaxSeqLength = maxSeqLength;
    }

    public IReadOnlyList<PoolingMode> Pooling { get; }

    /// <summary>Are embeddings scaled to unit L2 norm (a Normalize module)?</summary>
    public bool Normalize { get; }

    /// <summary>Texts are truncated to this many tokens (sentence_bert_config.json's max_seq_length).</summary>
    public int MaxSeqLength { get; }

    /// <summary>Length of each embedding: the hidden size times the number of pooling modes.</summary>
    public int Dimension => Pooling.Count * HiddenSize;

    private int HiddenSize => _model.Config is Models.Bert.BertConfig b ? b.HiddenSize : _model.Config.Fields["hidden_size"]?.GetValue<int>() ?? _model.Config.Fields["dim"]!.GetValue<int>();

    /// <summary>
    /// A model folder or Hub id (as <see cref="AutoModel.FromPretrained(string, FromPretrainedOptions?)"/>) with
    /// its tokenizer; modules.json, 1_Pooling/config.json and sentence_bert_config.json are read when present.
    /// </summary>
    public static SentenceEmbedder FromPretrained(string modelDir, string? revision = null)
    {
        string dir = ModelLoading.ResolveFolder(modelDir, revision);
        var model = AutoModel.FromPretrained(dir, new FromPretrainedOptions());
        var tokenizer = AutoTokenizer.FromPretrained(dir);
        var (pooling, normalize) = ReadModules(dir);
        int limit = model.Config is Models.Bert.BertConfig b ? b.MaxPositionEmbeddings : int.MaxValue;
        int maxSeq = ReadMaxSeqLength(dir) ?? Math.Min(tokenizer.ModelMaxLength, limit);
        return new SentenceEmbedder(model, tokenizer, pooling, normalize, Math.Min(maxSeq, limit));
    }

    /// <summary>One text's embedding.</summary>
    public float[] Encode(string text) => Encode([text], 1)[0];

    /// <summary>The embeddings of <paramref name="texts"/>, computed <paramref name="batchSize"/> texts per forward pass.</summary>
    public float[][] Encode(IReadOnlyList<string> texts, int batchSize = 32)
    {
        if (batchSize <= 0) throw FinetuneException.Invalid($"The batch size must be positive, got {batchSize}.");
        var result = new float[texts.Count][];
        var options = new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxSeqLength, Padding = PaddingStrategy.Longest };
        _model.Eval();
        for (int start = 0; start < texts.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, texts.Count - start);
            var slice = new List<string>(n);
            for (int i = 0; i < n; i++) slice.Add(texts[start + i]);
            var enc = _tokenizer.EncodeBatch(slice, null, options);
            int t = enc.Rows[0].InputIds.Length;
            var ids = new int[n * t];
            var mask = new int[n * t];
            var types = new int[n * t];
            for (int r = 0; r < n; r++)
            {
                enc.Rows[r].InputIds.CopyTo(ids, r * t);
                enc.Rows[r].AttentionMask.CopyTo(mask, r * t);
                enc.Rows[r].TokenTypeIds.CopyTo(types, r * t);
            }
            using var scope = TensorScope.Begin();
            using (Tensor.NoGrad())
            {
                var output = _model.Forward(IntTensor.FromArray(ids, n, t), IntTensor.FromArray(mask, n, t), IntTensor.FromArray(types, n, t));
                float[] hidden = output.LastHiddenState.ToArray();
                for (int r = 0; r < n; r++)
                    result[start + r] = Embed(hidden.AsSpan(r * t * HiddenSize, t * HiddenSize), mask.AsSpan(r * t, t), HiddenSize, Pooling, Normalize);
            }
        }
        return result;
    }

    /// <summary>
    /// One sentence's embedding from its token states [tokens × hidden] and attention mask, as sentence-transformers'
    /// Pooling and Normalize modules compute it in float32: mean = Σ(h·mask) / max(Σ mask, 1e-9); max sets masked
    /// tokens to -1e9 first; normalisation divides by max(‖x‖₂, 1e-12).
    /// </summary>
    public static float[] Embed(ReadOnlySpan<float> states, ReadOnlySpan<int> mask, int hidden, IReadOnlyList<PoolingMode> pooling, bool normalize)
    {
        int tokens = mask.Length;
        var result = new float[pooling.Count * hidden];
        float count = 0;
        for (int i = 0; i < tokens; i++) count += mask[i];
        for (int m = 0; m < pooling.Count; m++)
        {
            var dst = result.AsSpan(m * hidden, hidden);
            switch (pooling[m])
            {
                case PoolingMode.Cls:
                    states[..hidden].CopyTo(dst);
                    break;
                case PoolingMode.Max:
                    dst.Fill(float.NegativeInfinity);
                    for (int i = 0; i < tokens; i++)
                        for (int d = 0; d < hidden; d++)
                            dst[d] = Math.Max(dst[d], mask[i] != 0 ? states[i * hidden + d] : -1e9f);
                    break;
                default:
                    for (int i = 0; i < tokens; i++)
                        if (mask[i] != 0)
                            for (int d = 0; d < hidden; d++) dst[d] += states[i * hidden + d];
                    float divisor = pooling[m] == PoolingMode.Mean ? Math.Max(count, 1e-9f) : MathF.Sqrt(count);
                    for (int d = 0; d < hidden; d++) dst[d] /= divisor;
                    break;
            }
        }
        if (normalize)
        {
            double sq = 0;
            foreach (float v in result) sq += (double)v * v;
            float norm = Math.Max((float)Math.Sqrt(sq), 1e-12f);
            for (int d = 0; d < result.Length; d++) result[d] /= norm;
        }
        return result;
    }

    /// <summary>Pooling modes and normalisation from modules.json + the Pooling module's config.json.</summary>
    internal static (List<PoolingMode> Pooling, bool Normalize) ReadModules(string dir)
    {
        string modulesPath = Path.Combine(dir, "modules.json");
        if (!File.Exists(modulesPath)) return ([PoolingMode.Mean], false);
        if (AutoTokenizer.ReadJson(modulesPath) is not JsonArray modules)
            throw FinetuneException.Invalid($"'{modulesPath}' does not hold a JSON array of modules.");
        var pooling = new List<PoolingMode> { PoolingMode.Mean };
        bool normalize = false;
        foreach (var node in modules)
        {
            string type = (string?)node?["type"] ?? "";
            string path = (string?)node?["path"] ?? "";
            if (type.EndsWith(".Pooling", StringComparison.Ordinal))
                pooling = ReadPooling(Path.Combine(dir, path, "config.json"));
            else if (type.EndsWith(".Normalize", StringComparison.Ordinal))
                normalize = true;
            else if (!type.EndsWith(".Transformer", StringComparison.Ordinal))
                throw new FinetuneException(ErrorKind.Unsupported, $"'{modulesPath}' lists module '{type}', which is not supported (Transformer, Pooling and Normalize are).");
        }
        return (pooling, normalize);
    }

    private static List<PoolingMode> ReadPooling(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"Pooling config '{path}' does not exist.");
        if (AutoTokenizer.ReadJson(path) is not JsonObject c) throw FinetuneException.Invalid($"'{path}' does not hold a JSON object.");
        bool On(string key) => c[key] is JsonValue v && v.TryGetValue(out bool b) && b;
        foreach (string unsupported in new[] { "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken" })
            if (On(unsupported)) throw new FinetuneException(ErrorKind.Unsupported, $"'{path}' sets {unsupported}, which is not supported (cls, max, mean and mean_sqrt_len are).");
        var modes = new List<PoolingMode>();
        if (On("pooling_mode_cls_token")) modes.Add(PoolingMode.Cls);
        if (On("pooling_mode_max_tokens")) modes.Add(PoolingMode.Max);
        if (On("pooling_mode_mean_tokens")) modes.Add(PoolingMode.Mean);
        if (On("pooling_mode_mean_sqrt_len_tokens")) modes.Add(PoolingMode.MeanSqrtLen);
        if (modes.Count == 0) throw FinetuneException.Invalid($"'{path}' enables no pooling mode.");
        return modes;
    }

    private static int? ReadMaxSeqLength(string dir)
    {
        string path = Path.Combine(dir, "sentence_bert_config.json");
        if (!File.Exists(path)) return null;
        return AutoTokenizer.ReadJson(path) is JsonObject o && o["max_seq_length"] is JsonValue v && v.TryGetValue(out int n) ? n : null;
    }
}
