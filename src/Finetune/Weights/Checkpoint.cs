namespace Finetune.Weights;

/// <summary>Finds and opens the weights of a Hugging Face model folder, whatever format they are in.</summary>
public static class Checkpoint
{
    public const string SafeTensorsName = "model.safetensors";
    public const string SafeTensorsIndexName = "model.safetensors.index.json";
    public const string PyTorchName = "pytorch_model.bin";
    public const string PyTorchIndexName = "pytorch_model.bin.index.json";

    /// <summary>
    /// Opens the weights in <paramref name="dir"/>, preferring safetensors (single, then sharded) over
    /// pytorch_model.bin (single, then sharded), as transformers does.
    /// </summary>
    public static ITensorSource Open(string dir)
    {
        if (File.Exists(dir)) return OpenFile(dir);
        foreach (string name in new[] { SafeTensorsName, SafeTensorsIndexName, PyTorchName, PyTorchIndexName })
        {
            string path = Path.Combine(dir, name);
            if (File.Exists(path)) return name.EndsWith(".json", StringComparison.Ordinal) ? ShardedCheckpoint.Open(path) : OpenFile(path);
        }
        throw FinetuneException.Missing($"No weights in '{dir}': expected {SafeTensorsName}, {SafeTensorsIndexName}, {PyTorchName} or {PyTorchIndexName}.");
    }

    /// <summary>Opens one weights file, by its extension: .safetensors, or a torch.save file (.bin, .pt, .pth).</summary>
    public static ITensorSource OpenFile(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"Weights file '{path}' does not exist.");
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return SafeTensors.Read(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return ShardedCheckpoint.Open(path);
        return TorchPickle.Load(path);
    }
}
