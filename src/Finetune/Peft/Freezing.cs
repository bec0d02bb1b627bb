using System.Globalization;
using System.Text.RegularExpressions;
using Finetune.Models;

namespace Finetune.Peft;

/// <summary>
/// Freezing without adapters, as users write `p.requires_grad = False`: a frozen parameter gets no gradient, so its
/// weight-gradient product, its optimizer state and (below the lowest trained layer) the input gradients are skipped.
/// </summary>
public static class Freezing
{
    /// <summary>The whole encoder (transformers' model.base_model, pooler included): only the task head trains.</summary>
    public static int FreezeBase(PreTrainedModel model) => FreezeUnder(model, model.BaseModelPrefix + ".");

    /// <summary>The encoder's embeddings (word, position, token type and their LayerNorm).</summary>
    public static int FreezeEmbeddings(PreTrainedModel model) => FreezeUnder(model, model.BaseModelPrefix + ".embeddings.");

    /// <summary>Encoder layers <paramref name="first"/>..<paramref name="last"/> (inclusive, 0-based), e.g. "--freeze-layers 0-5".</summary>
    public static int FreezeLayers(PreTrainedModel model, int first, int last)
    {
        var layer = new Regex("^" + Regex.Escape(model.BaseModelPrefix) + @"\.(?:encoder|transformer)\.layer\.(\d+)\.", RegexOptions.CultureInvariant);
        int frozen = 0, seen = -1;
        foreach (var (name, p) in model.NamedParameters())
        {
            var m = layer.Match(name);
            if (!m.Success) continue;
            int i = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            seen = Math.Max(seen, i);
            if (i < first || i > last || !p.RequiresGrad) continue;
            p.RequiresGrad = false;
            p.Grad = null;
            frozen++;
        }
        if (seen < 0)
            throw new FinetuneException(ErrorKind.Unsupported, $"The {model.Config.ModelType} model has no per-layer parameters to freeze (ALBERT shares one layer across depth).");
        if (first < 0 || last < first || last > seen)
            throw FinetuneException.Invalid($"Layers {first}-{last} are outside the model's 0-{seen}.");
        return frozen;
    }

    /// <summary>Parses "0-5" or "3" into an inclusive range.</summary>
    public static (int First, int Last) ParseRange(string spec)
    {
        string[] parts = spec.Split('-');
        if (parts.Length is 1 or 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)
            && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int b) && a <= b)
            return (a, b);
        throw FinetuneException.Invalid($"Layer range '{spec}' is not N or N-M with N <= M (e.g. 0-5).");
    }

    private static int FreezeUnder(PreTrainedModel model, string prefix)
    {
        int frozen = 0;
        foreach (var (name, p) in model.NamedParameters())
            if (name.StartsWith(prefix, StringComparison.Ordinal) && p.RequiresGrad)
            {
                p.RequiresGrad = false;
                p.Grad = null;
                frozen++;
            }
        if (frozen == 0) throw FinetuneException.Invalid($"The {model.Config.ModelType} model has no trainable parameters under '{prefix}'.");
        return frozen;
    }
}
