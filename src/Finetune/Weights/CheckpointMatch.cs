namespace Finetune.Weights;

/// <summary>
/// The strict check of reading a saved model back (a resumed run, load_best_model_at_end): every parameter must be
/// in the checkpoint under its own name and at its own shape. A tensor of the right size but another shape is
/// refused by name, where copying by element count would scramble it silently.
/// </summary>
public static class CheckpointMatch
{
    /// <summary>Checks all of <paramref name="parameters"/> before any value is copied; <paramref name="where"/> names the checkpoint.</summary>
    public static void RequireAll(IEnumerable<(string Name, int[] Shape)> parameters, ITensorSource source, string where)
    {
        foreach (var (name, shape) in parameters)
        {
            if (!source.Contains(name))
                throw FinetuneException.Invalid($"Checkpoint '{where}' has no tensor '{name}', which the model needs.");
            var info = source.Info(name);
            if (!info.Shape.AsSpan().SequenceEqual(shape))
                throw FinetuneException.Invalid($"Tensor '{name}' in checkpoint '{where}' has shape {info.ShapeText} but the model expects [{string.Join(", ", shape)}].");
        }
    }
}
