using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tokenizers;
using Finetune.Weights;

namespace Finetune.Models;

/// <summary>
/// Base of every model in this library: holds the config, maps checkpoint tensors onto parameters by name
/// (parameter paths reproduce the checkpoint's names, so loading is a lookup), and saves in the Hugging Face
/// layout (config.json + model.safetensors).
/// </summary>
public abstract class PreTrainedModel : Module
{
    protected PreTrainedModel(PretrainedConfig config) => Config = config;

    public PretrainedConfig Config { get; }

    /// <summary>Name of the encoder inside task models ("bert", "roberta", ...): the model_type's <see cref="ModelRegistry"/> row.</summary>
    public virtual string BaseModelPrefix => ModelRegistry.For(Config).BaseModelPrefix;

    /// <summary>The transformers class name written to config.json's "architectures".</summary>
    public abstract string ArchitectureName { get; }

    /// <summary>Is this a bare encoder (its parameter names carry no base-model prefix)?</summary>
    protected virtual bool IsBaseModel => false;

    /// <summary>
    /// Copies the checkpoint's tensors into the parameters of the same name, as transformers' from_pretrained:
    /// `gamma`/`beta` read as LayerNorm weight/bias; a checkpoint of the bare encoder loads into a task model (and
    /// the encoder part of a task checkpoint into a bare encoder); parameters the checkpoint lacks keep their fresh
    /// initialisation and are reported; a shape mismatch is an error unless <paramref name="ignoreMismatchedSizes"/>.
    /// </summary>
    public LoadingReport LoadWeights(ITensorSource source, bool ignoreMismatchedSizes = false, string? sourceName = null)
    {
        sourceName ??= "the checkpoint";
        var report = new LoadingReport();
        var byName = new Dictionary<string, string>(StringComparer.Ordinal); // normalised name -> checkpoint name
        foreach (string n in source.Names)
        {
            if (IsIgnoredBuffer(n)) continue;
            byName.TryAdd(Normalise(n), n);
        }
        string prefix = BaseModelPrefix + ".";
        bool checkpointHasPrefix = byName.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        var parameters = NamedParameters().ToList();
        bool modelHasPrefix = parameters.Any(p => p.Name.StartsWith(prefix, StringComparison.Ordinal));
        var used = new HashSet<string>(StringComparer.Ordinal);
        report.BasePrefix = BaseModelPrefix;
        foreach (var (name, _) in parameters)
        {
            if (modelHasPrefix && !name.StartsWith(prefix, StringComparison.Ordinal)) continue; // a task head
            string inner = modelHasPrefix ? name[prefix.Length..] : name;
            report.EncoderRoots.Add(inner[..Math.Max(0, inner.IndexOf('.'))] is { Length: > 0 } root ? root : inner);
        }
        foreach (var (name, tensor) in parameters)
        {
            string key = name;
            if (modelHasPrefix && !checkpointHasPrefix)
            {
                if (!name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    report.NewlyInitialized.Add(name);
                    continue;
                }
                key = name[prefix.Length..];
            }
            else if (!modelHasPrefix && checkpointHasPrefix)
            {
                key = prefix + name;
            }
            if (!byName.TryGetValue(key, out string? stored))
            {
                report.NewlyInitialized.Add(name);
                continue;
            }
            used.Add(key);
            var info = source.Info(stored);
            if (!info.Shape.AsSpan().SequenceEqual(tensor.Shape))
            {
                if (!ignoreMismatchedSizes)
                    throw FinetuneException.Invalid($"Tensor '{stored}' in {sourceName} has shape {info.ShapeText} but {ArchitectureName} expects [{string.Join(", ", tensor.Shape)}] for '{name}'; pass ignore_mismatched_sizes to re-initialise it (e.g. a new classification head).");
                report.Mismatched.Add((name, info.Shape, (int[])tensor.Shape.Clone()));
                continue;
            }
            if (!info.DType.IsFloat())
                throw FinetuneException.Invalid($"Tensor '{stored}' in {sourceName} is {info.DType}, not a floating-point weight.");
            source.CopyTo(stored, tensor.Span);
        }
        foreach (var (key, stored) in byName)
            if (!used.Contains(key)) report.Unused.Add(stored);
        return report;
    }

    /// <summary>
    /// Reads back a folder <see cref="SavePretrained"/> (or transformers' save_pretrained) wrote: model.safetensors,
    /// its shards and index, or pytorch_model.bin. It is how a resumed run and load_best_model_at_end load a
    /// checkpoint, and it is strict: the config is checked against the tensor headers as FromPretrained checks it,
    /// then every parameter must be there at its own shape, all checked before any value changes.
    /// </summary>
    public void LoadPretrained(string dir)
    {
        ModelLoading.CheckConfigFitsCheckpoint(Config, dir, new FromPretrainedOptions());
        using ITensorSource weights = Checkpoint.Open(dir);
        CheckpointMatch.RequireAll(NamedParameters().Select(p => (p.Name, p.Value.Shape)), weights, dir);
        LoadWeights(weights, ignoreMismatchedSizes: false, dir);
    }

    /// <summary>Old checkpoints name LayerNorm parameters gamma/beta (transformers renames them on load).</summary>
    private static string Normalise(string name)
    {
        if (name.EndsWith(".gamma", StringComparison.Ordinal)) return name[..^".gamma".Length] + ".weight";
        if (name.EndsWith(".beta", StringComparison.Ordinal)) return name[..^".beta".Length] + ".bias";
        return name;
    }

    /// <summary>Buffers some checkpoints store (position ids, default token types) that are not weights.</summary>
    private static bool IsIgnoredBuffer(string name) =>
        name.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || name.EndsWith("embeddings.token_type_ids", StringComparison.Ordinal);

    /// <summary>transformers' default max_shard_size (10 GB): every model of these families fits in one file.</summary>
    public const long DefaultMaxShardBytes = 10_000_000_000;

    /// <summary>
    /// Writes config.json (architectures, model_type, labels, problem_type, torch_dtype and every field of the
    /// original config), the weights as <paramref name="dtype"/> in model.safetensors (or shards plus
    /// model.safetensors.index.json beyond <paramref name="maxShardBytes"/>), each file atomically, and the
    /// tokenizer's files when one is given. Weight files of an earlier save that the new one replaces are removed,
    /// so the folder never holds two competing checkpoints.
    /// </summary>
    public void SavePretrained(string dir, DType dtype = DType.F32, PreTrainedTokenizer? tokenizer = null, long maxShardBytes = DefaultMaxShardBytes)
    {
        Directory.CreateDirectory(dir);
        Config.Architectures = new[] { ArchitectureName };
        Config.TorchDtype = dtype.TorchName();
        if (Config.Fields.ContainsKey("dtype")) Config.Fields["dtype"] = dtype.TorchName(); // transformers 5 spelling of torch_dtype
        var tensors = NamedParameters().Select(p => new NamedTensor(p.Name, (int[])p.Value.Shape.Clone(), p.Value.ToArray())).ToList();
        var previous = PreviousWeightFiles(dir);
        var written = ShardedCheckpoint.WriteSafeTensors(dir, tensors, maxShardBytes, dtype);
        foreach (string f in previous.Except(written.Select(Path.GetFullPath)))
        {
            try
            {
                File.Delete(f);
            }
            catch (IOException e)
            {
                throw new FinetuneException(ErrorKind.Io, $"Could not remove the replaced weight file '{f}': {e.Message}", e);
            }
        }
        Config.SavePretrained(dir);
        tokenizer?.SavePretrained(dir);
    }

    /// <summary>model.safetensors, its index and the shards that index names: what an earlier SavePretrained wrote.</summary>
    private static List<string> PreviousWeightFiles(string dir)
    {
        var files = new List<string> { Path.Combine(dir, Checkpoint.SafeTensorsName) };
        string index = Path.Combine(dir, Checkpoint.SafeTensorsIndexName);
        if (File.Exists(index))
        {
            files.Add(index);
            try
            {
                if (SafeJson.ParseFile(index)?["weight_map"] is System.Text.Json.Nodes.JsonObject map)
                    foreach (var (_, file) in map)
                        if (file is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out string? f) && !f.Contains('/') && !f.Contains('\\') && !f.Contains(".."))
                            files.Add(Path.Combine(dir, f));
            }
            catch (System.Text.Json.JsonException)
            {
                // An unreadable index names nothing that can safely be deleted; the index itself is replaced.
            }
        }
        return files.Where(File.Exists).Select(Path.GetFullPath).Distinct().ToList();
    }

    /// <summary>The same model with its parameters as a named-tensor list (e.g. for an optimizer or a checkpoint).</summary>
    public IReadOnlyList<(string Name, Tensor Value)> StateDict() => NamedParameters().ToList();

    protected static Generator Rng(Generator? rng) => rng ?? Generator.Default;
}
