using System.Text;
using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Weights;

namespace Finetune.Onnx;

/// <summary>
/// Converts an encoder's ONNX export (BERT, DistilBERT, RoBERTa, ALBERT or ELECTRA; see <see cref="OnnxTensorSource"/>)
/// into a Hugging Face model folder: config.json (given, embedded by our exporter, or inferred from the graph),
/// model.safetensors under the model's key names (a bare encoder's without prefix, a classifier's with it), and
/// the WordPiece tokenizer files (vocab.txt, tokenizer_config.json, special_tokens_map.json, tokenizer.json) when a
/// vocabulary is given.
/// </summary>
public static class OnnxImport
{
    /// <summary>
    /// The ONNX file of <paramref name="fileOrDir"/>: the file itself, or a folder's model.onnx, or its
    /// onnx/model.onnx (the layout of Optimum exports in Hub repositories).
    /// </summary>
    public static string ResolveModelFile(string fileOrDir)
    {
        if (File.Exists(fileOrDir)) return fileOrDir;
        if (Directory.Exists(fileOrDir))
        {
            foreach (string candidate in new[] { "model.onnx", Path.Combine("onnx", "model.onnx") })
            {
                string path = Path.Combine(fileOrDir, candidate);
                if (File.Exists(path)) return path;
            }
            throw FinetuneException.Missing($"Folder '{fileOrDir}' holds no model.onnx or onnx/model.onnx.");
        }
        throw FinetuneException.Missing($"ONNX model '{fileOrDir}' does not exist.");
    }

    /// <summary>Is <paramref name="fileOrDir"/> an ONNX model (a .onnx file, or a folder with an ONNX export and no config.json weights)?</summary>
    public static bool IsOnnxModel(string fileOrDir)
    {
        if (File.Exists(fileOrDir)) return fileOrDir.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);
        if (!Directory.Exists(fileOrDir)) return false;
        bool hasOnnx = File.Exists(Path.Combine(fileOrDir, "model.onnx")) || File.Exists(Path.Combine(fileOrDir, "onnx", "model.onnx"));
        bool hasWeights = new[] { Checkpoint.SafeTensorsName, Checkpoint.SafeTensorsIndexName, Checkpoint.PyTorchName, Checkpoint.PyTorchIndexName }
            .Any(n => File.Exists(Path.Combine(fileOrDir, n)));
        return hasOnnx && !hasWeights;
    }

    /// <summary>
    /// Converts the ONNX file (or folder) <paramref name="model"/>; its vocab.txt and config.json are looked for
    /// beside it (and in the folder above, for onnx/model.onnx). <paramref name="configPath"/> overrides any other
    /// config; a config.json found beside the file is used when the file embeds none.
    /// </summary>
    /// <returns>The number of parameters written.</returns>
    public static long ToPretrainedFolder(string model, string outputDir, string? configPath = null, DType dtype = DType.F32)
    {
        string file = ResolveModelFile(model);
        string dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        string[] searched = Path.GetFileName(dir) == "onnx" ? [dir, Path.GetDirectoryName(dir)!] : [dir];
        string? vocab = searched.Select(d => Path.Combine(d, "vocab.txt")).FirstOrDefault(File.Exists);
        string? besidePath = searched.Select(d => Path.Combine(d, "config.json")).FirstOrDefault(File.Exists);
        PretrainedConfig? config = configPath != null ? ReadConfig(File.ReadAllText(configPath), configPath) : null;
        PretrainedConfig? beside = config == null && besidePath != null ? ReadConfig(File.ReadAllText(besidePath), besidePath) : null;
        using var source = OnnxTensorSource.Open(file, config, beside);
        using var vocabStream = vocab != null ? File.OpenRead(vocab) : null;
        return Write(source, vocabStream, outputDir, vocab, dtype);
    }

    /// <summary>
    /// Converts an ONNX model read from <paramref name="onnx"/> (e.g. <c>PackagedModel.OpenOnnx()</c>) with the
    /// vocabulary <paramref name="vocab"/> (null: no tokenizer files) into <paramref name="outputDir"/>;
    /// <paramref name="configJson"/> (config.json text) replaces the inferred config.
    /// </summary>
    /// <returns>The number of parameters written.</returns>
    public static long ToPretrainedFolder(Stream onnx, Stream? vocab, string outputDir, string? configJson = null, string? displayName = null, DType dtype = DType.F32)
    {
        displayName ??= onnx is Hub.ManifestResourceStream r ? $"{r.AssemblyPath}!{r.ResourceName}" : "the ONNX stream";
        PretrainedConfig? config = configJson != null ? ReadConfig(configJson, "the given config.json") : null;
        using var source = OnnxTensorSource.Load(onnx, displayName, config);
        return Write(source, vocab, outputDir, null, dtype);
    }

    /// <summary>A config.json text as its family's config; without model_type it is BERT's (as Optimum's BERT exports omit nothing else).</summary>
    internal static PretrainedConfig ReadConfig(string json, string where)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(json) as JsonObject ?? throw FinetuneException.Invalid($"Config '{where}' does not hold a JSON object.");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw FinetuneException.Invalid($"Config '{where}' is not valid JSON: {e.Message}", e);
        }
        string type = obj["model_type"] is JsonValue v && v.TryGetValue(out string? t) ? t : "bert";
        if (!AutoConfig.Families.TryGetValue(type, out var make))
            throw new FinetuneException(ErrorKind.Unsupported, $"Config '{where}' has model_type '{type}'; ONNX import supports {string.Join(", ", AutoConfig.Families.Keys)}.");
        try
        {
            var config = make(obj);
            config.Validate();
            return config;
        }
        catch (FinetuneException e) when (!e.Message.Contains(where, StringComparison.Ordinal))
        {
            throw new FinetuneException(e.Kind, $"Config '{where}': {e.Message}", e);
        }
    }

    /// <summary>The rows of the word embeddings (the largest token id + 1 the model takes).</summary>
    private static int VocabSize(PretrainedConfig c) => c switch
    {
        Models.Bert.BertConfig b => b.VocabSize,
        Models.DistilBert.DistilBertConfig d => d.VocabSize,
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"No vocabulary size for model_type '{c.ModelType}'."),
    };

    private static int MaxPositions(PretrainedConfig c) => c switch
    {
        Models.Bert.BertConfig b => b.MaxPositionEmbeddings,
        Models.DistilBert.DistilBertConfig d => d.MaxPositionEmbeddings,
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"No max_position_embeddings for model_type '{c.ModelType}'."),
    };

    /// <summary>
    /// Everything is validated before the first byte is written; the files are written into a staging folder
    /// beside <paramref name="outputDir"/> and moved into place, each by a rename.
    /// </summary>
    private static long Write(OnnxTensorSource source, Stream? vocab, string outputDir, string? vocabName, DType dtype)
    {
        long parameters = 0;
        byte[]? vocabBytes = null;
        if (vocab != null)
        {
            using var ms = new MemoryStream();
            vocab.CopyTo(ms);
            vocabBytes = ms.ToArray();
            CheckVocab(vocabBytes, source, vocabName ?? "the vocabulary");
        }
        var tensors = new List<NamedTensor>();
        foreach (string name in source.Names)
        {
            var info = source.Info(name);
            var data = new float[info.ElementCount];
            source.CopyTo(name, data);
            tensors.Add(new NamedTensor(name, info.Shape, data));
            parameters += data.Length;
        }
        string full = Path.GetFullPath(outputDir);
        string staging = Path.Combine(Path.GetDirectoryName(full.TrimEnd(Path.DirectorySeparatorChar)) ?? ".", "." + Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar)) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            Directory.CreateDirectory(staging);
            if (dtype != DType.F32) source.Config.TorchDtype = dtype.TorchName();
            AtomicFile.WriteAllText(Path.Combine(staging, "config.json"), ConfigText(source.Config));
            SafeTensors.Write(Path.Combine(staging, Checkpoint.SafeTensorsName), tensors, dtype);
            if (vocabBytes != null) BertTokenizerFiles.Write(staging, vocabBytes, MaxPositions(source.Config));
            Directory.CreateDirectory(full);
            foreach (string f in Directory.GetFiles(staging))
                File.Move(f, Path.Combine(full, Path.GetFileName(f)), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not write the converted model to '{outputDir}': {e.Message}", e);
        }
        finally
        {
            try
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        return parameters;
    }

    /// <summary>
    /// The config's own fields sorted by key (with model_type), as transformers writes a BertModel's config: the
    /// default two LABEL_i labels are left out, as transformers' save_pretrained leaves out defaults.
    /// </summary>
    private static string ConfigText(PretrainedConfig config)
    {
        var sorted = new JsonObject();
        var fields = config.Fields.ToList();
        fields.Add(new("model_type", config.ModelType));
        bool defaultLabels = config.Id2Label.Count == 2 && config.Id2Label[0] == "LABEL_0" && config.Id2Label[1] == "LABEL_1";
        if (defaultLabels) fields.RemoveAll(f => f.Key is "id2label" or "label2id");
        foreach (var (k, v) in fields.DistinctBy(f => f.Key).OrderBy(f => f.Key, StringComparer.Ordinal)) sorted[k] = v?.DeepClone();
        return sorted.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    private static void CheckVocab(byte[] bytes, OnnxTensorSource source, string name)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw FinetuneException.Invalid($"Vocabulary '{name}' is not valid UTF-8.", e);
        }
        var lines = text.Split('\n');
        int tokens = lines.Length - (lines[^1].Length == 0 ? 1 : 0);
        // transformers accepts an embedding matrix larger than the vocabulary, not the reverse (ids past its rows).
        int rows = VocabSize(source.Config);
        if (tokens > rows)
            throw FinetuneException.Invalid($"Vocabulary '{name}' has {tokens} tokens but the model's word embeddings have only {rows} rows.");
    }
}
