using Finetune.Hub;
using Finetune.Tensors;
using Finetune.Weights;

namespace Finetune.Models;

/// <summary>Options of from_pretrained.</summary>
public sealed class FromPretrainedOptions
{
    /// <summary>Overrides num_labels (a different count resets id2label to LABEL_i, as in transformers).</summary>
    public int? NumLabels { get; init; }

    /// <summary>Re-initialise parameters whose checkpoint shape differs instead of failing (e.g. a new head).</summary>
    public bool IgnoreMismatchedSizes { get; init; }

    /// <summary>Sets id2label/label2id (and num_labels) before the head is built.</summary>
    public IReadOnlyDictionary<int, string>? Id2Label { get; init; }

    public string? ProblemType { get; init; }

    /// <summary>Draws the fresh initialisation of weights the checkpoint lacks (default: Generator.Default).</summary>
    public Generator? Rng { get; init; }

    /// <summary>Receives the loading warnings (newly initialised / unused / mismatched weights).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Branch, tag or commit of a Hub model (default "main"); ignored for a local folder.</summary>
    public string? Revision { get; init; }

    /// <summary>
    /// Build the model even when its config asks for layers the checkpoint lacks (they stay random and the loading
    /// report names them); without it the preflight refuses such a config before any layer is built.
    /// </summary>
    public bool AllowNewWeights { get; init; }
}

/// <summary>Builds the bare encoder of a model folder (BertModel, RobertaModel, ...) and loads its weights.</summary>
public static class AutoModel
{
    public static EncoderModel FromConfig(PretrainedConfig config, Generator? rng = null)
    {
        config.CheckBuildable();
        return ModelRegistry.For(config, "encoder").Encoder(config, rng);
    }

    public static EncoderModel FromPretrained(string dir, FromPretrainedOptions? options = null) =>
        FromPretrained(dir, options, out _);

    /// <summary>
    /// A local model folder, or a Hub model id (<c>"bert-base-uncased"</c>, <c>"org/name"</c>) whose config and
    /// weights are fetched into the Hugging Face cache first.
    /// </summary>
    public static EncoderModel FromPretrained(string dir, FromPretrainedOptions? options, out LoadingReport report)
    {
        options ??= new FromPretrainedOptions();
        dir = ModelLoading.ResolveFolder(dir, options.Revision);
        var config = ModelLoading.ReadConfig(dir, options);
        ModelLoading.CheckConfigFitsCheckpoint(config, dir, options);
        var (model, loaded) = ModelLoading.NamingFolder(dir, () =>
        {
            var m = FromConfig(config, options.Rng);
            return (m, ModelLoading.Load(m, dir, options));
        });
        report = loaded;
        return model;
    }
}

/// <summary>Builds XForSequenceClassification from a model folder, dispatching on model_type, and loads its weights.</summary>
public static class AutoModelForSequenceClassification
{
    public static SequenceClassificationModel FromConfig(PretrainedConfig config, Generator? rng = null)
    {
        config.CheckBuildable();
        return ModelRegistry.For(config, "sequence classifier").SequenceClassification(config, rng);
    }

    public static SequenceClassificationModel FromPretrained(string dir, int? numLabels = null, bool ignoreMismatchedSizes = false, string? revision = null) =>
        FromPretrained(dir, new FromPretrainedOptions { NumLabels = numLabels, IgnoreMismatchedSizes = ignoreMismatchedSizes, Revision = revision }, out _);

    /// <summary>
    /// A local model folder, or a Hub model id (<c>"bert-base-uncased"</c>, <c>"org/name"</c>) whose config and
    /// weights are fetched into the Hugging Face cache first.
    /// </summary>
    public static SequenceClassificationModel FromPretrained(string dir, FromPretrainedOptions? options, out LoadingReport report)
    {
        options ??= new FromPretrainedOptions();
        dir = ModelLoading.ResolveFolder(dir, options.Revision);
        var config = ModelLoading.ReadConfig(dir, options);
        ModelLoading.CheckConfigFitsCheckpoint(config, dir, options);
        var (model, loaded) = ModelLoading.NamingFolder(dir, () =>
        {
            var m = FromConfig(config, options.Rng);
            return (m, ModelLoading.Load(m, dir, options));
        });
        report = loaded;
        return model;
    }
}

internal static class ModelLoading
{
    /// <summary>
    /// A folder as is; a Hub model id through the Hugging Face cache (transformers fetches the config and the
    /// weights, not the tokenizer); anything else is a NotFound error naming it.
    /// </summary>
    public static string ResolveFolder(string nameOrPath, string? revision, ModelFiles parts = ModelFiles.Config | ModelFiles.Weights) =>
        NameOrPath.ResolveModel(nameOrPath, parts, revision);

    public static PretrainedConfig ReadConfig(string dir, FromPretrainedOptions o)
    {
        if (!Directory.Exists(dir)) throw FinetuneException.Missing($"Model folder '{dir}' does not exist.");
        var config = AutoConfig.FromPretrained(dir);
        if (o.Id2Label != null) config.Id2Label = o.Id2Label;
        if (o.NumLabels is int n) config.NumLabels = n;
        if (o.ProblemType != null) config.ProblemType = o.ProblemType;
        return config;
    }

    /// <summary>Runs <paramref name="build"/>; an error of the model's own checks that names no file names the folder.</summary>
    public static T NamingFolder<T>(string dir, Func<T> build)
    {
        try
        {
            return build();
        }
        catch (FinetuneException e) when (!e.Message.Contains(dir, StringComparison.Ordinal))
        {
            throw new FinetuneException(e.Kind, $"Model '{dir}': {e.Message}", e);
        }
    }

    /// <summary>
    /// Preflight: compares the config with the checkpoint's tensor headers (no tensor data is read) before any
    /// layer is built, so a config that cannot describe these weights (more layers than the checkpoint holds, an
    /// embedding table of another size) is one InvalidInput error instead of a model built for nothing.
    /// </summary>
    public static void CheckConfigFitsCheckpoint(PretrainedConfig config, string dir, FromPretrainedOptions o)
    {
        config.CheckBuildable();
        if (ModelRegistry.Find(config.ModelType) is not { } family) return;
        (int vocab, int width, int layers, string layersField) = family.CheckpointShape(config);
        using ITensorSource weights = Checkpoint.Open(dir);
        int checkpointLayers = 0;
        foreach (string name in weights.Names)
        {
            if (!o.IgnoreMismatchedSizes && name.EndsWith("embeddings.word_embeddings.weight", StringComparison.Ordinal)
                && weights.Info(name).Shape is [int rows, int cols] && (rows != vocab || cols != width))
                throw FinetuneException.Invalid($"Config of '{dir}' does not fit its weights: tensor '{name}' is [{rows}, {cols}] but the config says vocab_size {vocab} × embedding width {width}.");
            checkpointLayers = Math.Max(checkpointLayers, LayerIndex(name) + 1);
        }
        if (layersField.Length > 0 && checkpointLayers > 0 && layers > checkpointLayers && !o.AllowNewWeights)
        {
            // Name what the first missing layer would need, as the checkpoint spells its last layer's tensors.
            string last = $"layer.{checkpointLayers - 1}.", next = $"layer.{checkpointLayers}.";
            var missing = weights.Names.Where(n => LayerIndex(n) == checkpointLayers - 1).Take(4).Select(n => $"'{n.Replace(last, next, StringComparison.Ordinal)}'");
            throw FinetuneException.Invalid($"Config of '{dir}' does not fit its weights: {layersField} is {layers} but the checkpoint holds {checkpointLayers} layers " +
                $"(missing {string.Join(", ", missing)}, ...); pass --allow-new-weights to build the extra layers with random weights.");
        }
    }

    /// <summary>N of a "...layer.N..." tensor name (encoder.layer.N, transformer.layer.N), else -1.</summary>
    private static int LayerIndex(string name)
    {
        int at = name.IndexOf("layer.", StringComparison.Ordinal);
        while (at >= 0)
        {
            if (at == 0 || name[at - 1] == '.')
            {
                int start = at + 6, end = start;
                while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
                if (end > start && end < name.Length && name[end] == '.' && end - start < 9) return int.Parse(name.AsSpan(start, end - start), System.Globalization.CultureInfo.InvariantCulture);
            }
            at = name.IndexOf("layer.", at + 1, StringComparison.Ordinal);
        }
        return -1;
    }

    public static LoadingReport Load(PreTrainedModel model, string dir, FromPretrainedOptions o)
    {
        using ITensorSource weights = Checkpoint.Open(dir);
        var report = model.LoadWeights(weights, o.IgnoreMismatchedSizes, dir);
        if (o.Log != null)
            foreach (string w in report.Warnings(model.ArchitectureName, dir)) o.Log(w);
        model.Eval(); // from_pretrained returns a model in evaluation mode
        return report;
    }
}
