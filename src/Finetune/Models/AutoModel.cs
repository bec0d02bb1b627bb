using Finetune.Hub;
using Finetune.Models.Albert;
using Finetune.Models.Bert;
using Finetune.Models.DistilBert;
using Finetune.Models.Electra;
using Finetune.Models.Roberta;
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
}

/// <summary>Builds the bare encoder of a model folder (BertModel, RobertaModel, ...) and loads its weights.</summary>
public static class AutoModel
{
    public static EncoderModel FromConfig(PretrainedConfig config, Generator? rng = null) => config switch
    {
        RobertaConfig r => new RobertaModel(r, true, rng),
        ElectraConfig e => new ElectraModel(e, rng),
        AlbertConfig a => new AlbertModel(a, true, rng),
        BertConfig b => new BertModel(b, true, rng),
        DistilBertConfig d => new DistilBertModel(d, rng),
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"No encoder for model_type '{config.ModelType}'."),
    };

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
        var model = FromConfig(config, options.Rng);
        report = ModelLoading.Load(model, dir, options);
        return model;
    }
}

/// <summary>Builds XForSequenceClassification from a model folder, dispatching on model_type, and loads its weights.</summary>
public static class AutoModelForSequenceClassification
{
    public static SequenceClassificationModel FromConfig(PretrainedConfig config, Generator? rng = null) => config switch
    {
        RobertaConfig r => new RobertaForSequenceClassification(r, rng),
        ElectraConfig e => new ElectraForSequenceClassification(e, rng),
        AlbertConfig a => new AlbertForSequenceClassification(a, rng),
        BertConfig b => new BertForSequenceClassification(b, rng),
        DistilBertConfig d => new DistilBertForSequenceClassification(d, rng),
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"No sequence classifier for model_type '{config.ModelType}'."),
    };

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
        var model = FromConfig(config, options.Rng);
        report = ModelLoading.Load(model, dir, options);
        return model;
    }
}

internal static class ModelLoading
{
    /// <summary>
    /// A folder as is; a Hub model id through the Hugging Face cache (transformers fetches the config and the
    /// weights, not the tokenizer); anything else is a NotFound error naming it.
    /// </summary>
    public static string ResolveFolder(string nameOrPath, string? revision, ModelFiles parts = ModelFiles.Config | ModelFiles.Weights)
    {
        if (Directory.Exists(nameOrPath)) return nameOrPath;
        if (!HubClient.IsValidRepoId(nameOrPath))
            throw FinetuneException.Missing($"Model folder '{nameOrPath}' does not exist (and it is not a Hub model id).");
        return Hub.Hub.ResolveModel(nameOrPath, revision, parts);
    }

    public static PretrainedConfig ReadConfig(string dir, FromPretrainedOptions o)
    {
        if (!Directory.Exists(dir)) throw FinetuneException.Missing($"Model folder '{dir}' does not exist.");
        var config = AutoConfig.FromPretrained(dir);
        if (o.Id2Label != null) config.Id2Label = o.Id2Label;
        if (o.NumLabels is int n) config.NumLabels = n;
        if (o.ProblemType != null) config.ProblemType = o.ProblemType;
        return config;
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
