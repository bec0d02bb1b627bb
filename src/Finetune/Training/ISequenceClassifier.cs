using Finetune.Data;
using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Weights;

namespace Finetune.Training;

/// <summary>Logits [B, NumLabels] and, when labels were given, the loss (a scalar tensor).</summary>
public sealed record ClassifierOutput(Tensor Logits, Tensor? Loss);

/// <summary>
/// What the Trainer needs from a model: its parameters (a Module with PyTorch names), a forward pass on a padded
/// batch computing the problem type's loss when the batch has labels, and saving its config.json. Adapters wrap
/// the model families.
/// </summary>
public interface ISequenceClassifier
{
    Module Module { get; }
    int NumLabels { get; }
    /// <summary>"single_label_classification", "multi_label_classification" or "regression".</summary>
    string ProblemType { get; }
    IReadOnlyDictionary<int, string>? Id2Label { get; }

    ClassifierOutput Forward(Batch batch);

    /// <summary>Writes config.json (and anything else the family keeps beside the weights) into the folder.</summary>
    void SaveConfig(string directory);

    /// <summary>save_pretrained: config.json + model.safetensors holding every named parameter.</summary>
    void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        SaveConfig(directory);
        ModelWeights.Save(Module, Path.Combine(directory, "model.safetensors"));
    }

    /// <summary>Loads what <see cref="SavePretrained"/> wrote into the folder (a checkpoint, the best model at the end).</summary>
    void LoadSaved(string directory)
    {
        string path = Path.Combine(directory, "model.safetensors");
        if (!File.Exists(path)) throw FinetuneException.Missing($"The checkpoint '{directory}' has no model.safetensors.");
        ModelWeights.Load(Module, path);
    }
}

/// <summary>Copies a Module's named parameters to and from safetensors files.</summary>
public static class ModelWeights
{
    public static void Save(Module module, string path) =>
        SafeTensors.Write(path, module.NamedParameters().Select(p => new NamedTensor(p.Name, p.Value.Shape, p.Value.ToArray())).ToList(),
            metadata: new Dictionary<string, string> { ["format"] = "pt" });

    /// <summary>Loads every parameter from the file; a missing or mis-shaped tensor is an error naming it.</summary>
    public static void Load(Module module, string path)
    {
        using var src = Checkpoint.OpenFile(path);
        foreach (var (name, p) in module.NamedParameters())
        {
            if (!src.Contains(name)) throw FinetuneException.Invalid($"'{path}' has no tensor '{name}'.");
            var info = src.Info(name);
            if (info.ElementCount != p.Length)
                throw FinetuneException.Invalid($"Tensor '{name}' in '{path}' has {info.ElementCount} values but the model expects {p.Length}.");
            src.CopyTo(name, p.Span);
        }
    }
}
