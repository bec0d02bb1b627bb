using Finetune.Nn;
using Finetune.Tensors;
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

    /// <summary>Name of the encoder inside task models ("bert", "roberta", "distilbert", "albert", "electra").</summary>
    public abstract string BaseModelPrefix { get; }

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

    /// <summary>
    /// Writes config.json (architectures, model_type, labels, problem_type, torch_dtype and every field of the
    /// original config) and model.safetensors (parameters stored as <paramref name="dtype"/>), each atomically.
    /// </summary>
    public void SavePretrained(string dir, DType dtype = DType.F32)
    {
        Directory.CreateDirectory(dir);
        Config.Architectures = new[] { ArchitectureName };
        Config.TorchDtype = dtype.TorchName();
        if (Config.Fields.ContainsKey("dtype")) Config.Fields["dtype"] = dtype.TorchName(); // transformers 5 spelling of torch_dtype
        var tensors = NamedParameters().Select(p => new NamedTensor(p.Name, (int[])p.Value.Shape.Clone(), p.Value.ToArray())).ToList();
        SafeTensors.Write(Path.Combine(dir, Checkpoint.SafeTensorsName), tensors, dtype);
        Config.SavePretrained(dir);
    }

    /// <summary>The same model with its parameters as a named-tensor list (e.g. for an optimizer or a checkpoint).</summary>
    public IReadOnlyList<(string Name, Tensor Value)> StateDict() => NamedParameters().ToList();

    protected static Generator Rng(Generator? rng) => rng ?? Generator.Default;
}
