using Finetune.Models;
using Finetune.Tensors;
using Finetune.Weights;

namespace Finetune.Peft;

/// <summary>A peft adapter folder (adapter_config.json + adapter_model.safetensors) used where a model folder is expected.</summary>
public static class AdapterFolder
{
    public static bool IsAdapter(string directory) => File.Exists(Path.Combine(directory, LoraConfig.AdapterConfigName));

    /// <summary>
    /// Where base_model_name_or_path points: a folder as written, else a folder relative to the adapter folder (an
    /// adapter saved beside its base), else a Hub model id, returned unchanged.
    /// </summary>
    public static string ResolveBase(string adapterDirectory, LoraConfig config)
    {
        string id = config.BaseModelNameOrPath
            ?? throw FinetuneException.Invalid($"'{Path.Combine(adapterDirectory, LoraConfig.AdapterConfigName)}' names no base_model_name_or_path.");
        if (Directory.Exists(id)) return id;
        string beside = Path.Combine(adapterDirectory, id);
        return Directory.Exists(beside) ? beside : id;
    }

    /// <summary>
    /// The base model with the adapter merged in (peft's PeftModel.from_pretrained then merge_and_unload): the head is
    /// sized from the adapter's saved classifier, and every weight the base lacks must come from the adapter.
    /// </summary>
    public static SequenceClassificationModel LoadMerged(string adapterDirectory, string? revision = null, Action<string>? log = null)
    {
        var config = LoraConfig.Load(adapterDirectory);
        string basePath = ResolveBase(adapterDirectory, config);
        string weights = Path.Combine(adapterDirectory, LoraConfig.AdapterWeightsName);
        if (!File.Exists(weights)) throw FinetuneException.Missing($"'{adapterDirectory}' has no {LoraConfig.AdapterWeightsName}.");
        HashSet<string> saved;
        int? numLabels = null;
        using (var src = Checkpoint.OpenFile(weights))
        {
            saved = [.. src.Names.Select(n => n.StartsWith(PeftModel.KeyPrefix, StringComparison.Ordinal) ? n[PeftModel.KeyPrefix.Length..] : n)];
            foreach (string head in new[] { "classifier.weight", "classifier.out_proj.weight", "score.weight" })
                if (src.Contains(PeftModel.KeyPrefix + head)) numLabels = src.Info(PeftModel.KeyPrefix + head).Shape[0];
        }
        var model = AutoModelForSequenceClassification.FromPretrained(basePath, new FromPretrainedOptions
        {
            NumLabels = numLabels,
            IgnoreMismatchedSizes = true,
            AllowNewWeights = true,
            Revision = revision,
            Log = log,
        }, out var report);
        foreach (string name in report.NewlyInitialized.Concat(report.Mismatched.Select(m => m.Name)))
            if (!saved.Contains(name))
                throw FinetuneException.Invalid($"The base model '{basePath}' lacks '{name}' and the adapter in '{adapterDirectory}' does not provide it.");
        var peft = PeftModel.GetPeftModel(model, config, new Generator(0));
        peft.LoadAdapter(weights);
        return (SequenceClassificationModel)peft.MergeAndUnload();
    }
}
