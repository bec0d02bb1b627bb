namespace Finetune.Models;

/// <summary>How a checkpoint's tensors mapped onto a model, as transformers reports it when loading.</summary>
public sealed class LoadingReport
{
    /// <summary>Model parameters the checkpoint did not have: freshly initialised (normal(0, initializer_range), zero bias).</summary>
    public List<string> NewlyInitialized { get; } = new();

    /// <summary>Checkpoint tensors the model has no place for (e.g. cls.predictions.* of a pretraining checkpoint).</summary>
    public List<string> Unused { get; } = new();

    /// <summary>Parameters whose checkpoint shape differed; re-initialised because ignore_mismatched_sizes was set.</summary>
    public List<(string Name, int[] CheckpointShape, int[] ModelShape)> Mismatched { get; } = new();

    /// <summary>Warnings worded like transformers' loading messages (empty when everything matched).</summary>
    public IEnumerable<string> Warnings(string model, string source)
    {
        if (Unused.Count > 0)
            yield return $"Some weights of the model checkpoint at {source} were not used when initializing {model}: [{string.Join(", ", Unused)}]";
        if (NewlyInitialized.Count > 0)
            yield return $"Some weights of {model} were not initialized from the model checkpoint at {source} and are newly initialized: [{string.Join(", ", NewlyInitialized)}]. You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.";
        foreach (var (name, ck, m) in Mismatched)
            yield return $"Weight {name} of {model} was newly initialized because the checkpoint shape [{string.Join(", ", ck)}] differs from the model shape [{string.Join(", ", m)}].";
    }
}
