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

    /// <summary>The base model's name prefix ("bert") and the first segments of its own parameter names below it
    /// ("embeddings", "encoder", "pooler"): what tells an encoder tensor from a task or pretraining head.</summary>
    internal string BasePrefix { get; set; } = "";
    internal HashSet<string> EncoderRoots { get; } = new(StringComparer.Ordinal);

    /// <summary>Does this parameter or checkpoint name belong to the encoder (not to a task or pretraining head)?</summary>
    public bool IsEncoderTensor(string name)
    {
        if (BasePrefix.Length > 0 && name.StartsWith(BasePrefix + ".", StringComparison.Ordinal)) return true;
        int dot = name.IndexOf('.');
        return EncoderRoots.Contains(dot < 0 ? name : name[..dot]);
    }

    // The pooler trains with the task head: RoBERTa's classifier leaves the checkpoint's pooler unused, and a
    // checkpoint saved without one gets a fresh one, both of which transformers only warns about.
    private bool IsEncoderBody(string name)
    {
        if (!IsEncoderTensor(name)) return false;
        string inner = BasePrefix.Length > 0 && name.StartsWith(BasePrefix + ".", StringComparison.Ordinal) ? name[(BasePrefix.Length + 1)..] : name;
        return !inner.StartsWith("pooler.", StringComparison.Ordinal);
    }

    /// <summary>
    /// Fails (invalid input, exit 3) unless the checkpoint filled the model one-to-one. For fine-tuning
    /// (<paramref name="training"/>) a freshly initialised or re-sized task head and unused pretraining heads are
    /// expected, as transformers only warns about them; any encoder tensor missing, unused or re-initialised is not:
    /// the config does not describe these weights. For inference every newly initialised or unused tensor fails, and
    /// re-sized ones only reach here when ignore_mismatched_sizes was asked for. <paramref name="allowNewWeights"/>
    /// accepts everything (the warnings still say what happened).
    /// </summary>
    public void EnsureFits(string model, string source, bool training, bool allowNewWeights, bool ignoreMismatchedSizes)
    {
        if (allowNewWeights) return;
        var newly = training ? NewlyInitialized.Where(IsEncoderBody).ToList() : NewlyInitialized;
        var unused = training ? Unused.Where(IsEncoderBody).ToList() : Unused;
        var resized = training && !ignoreMismatchedSizes ? Mismatched.Where(m => IsEncoderBody(m.Name)).Select(m => m.Name).ToList() : new List<string>();
        if (newly.Count == 0 && unused.Count == 0 && resized.Count == 0) return;
        var parts = new List<string>();
        if (newly.Count > 0) parts.Add($"{newly.Count} weight(s) of {model} are not in the checkpoint and would be random: {List(newly)}");
        if (unused.Count > 0) parts.Add($"{unused.Count} checkpoint tensor(s) have no place in {model}: {List(unused)}");
        if (resized.Count > 0) parts.Add($"{resized.Count} encoder weight(s) differ in shape from the checkpoint: {List(resized)}");
        string hint = training
            ? "check that config.json belongs to these weights (model_type, num_hidden_layers, sizes), or pass --allow-new-weights to train them from random anyway"
            : "check that config.json belongs to these weights (model_type, num_hidden_layers, num_labels), or pass --allow-new-weights (or --ignore-mismatched-sizes for re-sized ones) to run with random weights anyway";
        throw FinetuneException.Invalid($"The checkpoint at {source} does not fit its config: {string.Join("; ", parts)}. Nothing was {(training ? "trained" : "predicted")}; {hint}.");
    }

    private static string List(IReadOnlyList<string> names) =>
        "[" + string.Join(", ", names.Take(8)) + (names.Count > 8 ? $", ... and {names.Count - 8} more" : "") + "]";

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
