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

    /// <summary>
    /// Loads what <see cref="SavePretrained"/> wrote into the folder (a checkpoint, the best model at the end): every
    /// parameter at its own shape, from model.safetensors, its shards or pytorch_model.bin.
    /// </summary>
    void LoadSaved(string directory) => ModelWeights.Load(Module, directory);
}

/// <summary>Copies a Module's named parameters to and from safetensors files.</summary>
public static class ModelWeights
{
    public static void Save(Module module, string path) =>
        SafeTensors.Write(path, module.NamedParameters().Select(p => new NamedTensor(p.Name, p.Value.Shape, p.Value.ToArray())).ToList(),
            metadata: new Dictionary<string, string> { ["format"] = "pt" });

    /// <summary>
    /// Loads every parameter from a weights file or a model folder (<see cref="Checkpoint.Open"/>); a missing or
    /// mis-shaped tensor is an error naming it, raised before any parameter changes.
    /// </summary>
    public static void Load(Module module, string path)
    {
        using var src = Checkpoint.Open(path);
        var parameters = module.NamedParameters().ToList();
        CheckpointMatch.RequireAll(parameters.Select(p => (p.Name, p.Value.Shape)), src, path);
        foreach (var (name, p) in parameters) src.CopyTo(name, p.Span);
    }
}
