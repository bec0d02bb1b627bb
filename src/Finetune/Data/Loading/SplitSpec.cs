using System.Globalization;
using System.Text.RegularExpressions;

namespace Finetune.Data.Loading;

/// <summary>
/// HF split strings: "train", "train[:1000]", "train[10:20]", "train[:10%]", "train[-5%:]", "train+test",
/// "train[:33%](pct1_dropremainder)". As `datasets`' ReadInstruction: a `%` on either boundary makes both percent;
/// percent boundaries round to the nearest row ("closest", Python's round: half to even) unless
/// pct1_dropremainder asks for whole 1% blocks.
/// </summary>
public static partial class SplitSpec
{
    [GeneratedRegex(@"^\s*(?<name>\w+(\.\w+)*)\s*(\[\s*(?<from>-?\d+)?(?<fromPct>%)?\s*:\s*(?<to>-?\d+)?(?<toPct>%)?\s*\])?(\((?<rounding>[^)]*)\))?\s*$")]
    private static partial Regex Part();

    public static Dataset Resolve(DatasetDict dict, string spec)
    {
        var parts = new List<Dataset>();
        foreach (var piece in spec.Split('+'))
        {
            var m = Part().Match(piece);
            if (!m.Success) throw FinetuneException.Invalid($"Split '{spec}' is not understood; use forms like train, train[:1000], train[10%:20%] or train+test.");
            var ds = dict[m.Groups["name"].Value];
            if (!piece.Contains('['))
            {
                parts.Add(ds);
                continue;
            }
            bool percent = m.Groups["fromPct"].Success || m.Groups["toPct"].Success;
            string? rounding = m.Groups["rounding"].Success ? m.Groups["rounding"].Value : null;
            if (rounding != null && !percent) throw FinetuneException.Invalid($"Split '{spec}': a rounding applies only to percent slices.");
            if (rounding is not (null or "closest" or "pct1_dropremainder"))
                throw FinetuneException.Invalid($"Split '{spec}': rounding must be closest or pct1_dropremainder, not '{rounding}'.");
            int n = ds.NumRows;
            int from = Bound(m.Groups["from"], n, 0, percent, rounding == "pct1_dropremainder", spec);
            int to = Bound(m.Groups["to"], n, n, percent, rounding == "pct1_dropremainder", spec);
            parts.Add(ds.Select(from, Math.Max(0, to - from)));
        }
        return parts.Count == 1 ? parts[0] : Dataset.Concatenate(parts.ToArray());
    }

    private static int Bound(Group g, int n, int dflt, bool percent, bool pct1, string spec)
    {
        if (!g.Success || g.Value.Length == 0) return dflt;
        long v = long.Parse(g.Value, CultureInfo.InvariantCulture);
        long b = v;
        if (percent)
        {
            if (v < -100 || v > 100) throw FinetuneException.Invalid($"Split '{spec}': percent slice boundaries must be between -100% and 100%.");
            if (pct1)
            {
                if (n < 100) throw FinetuneException.Invalid($"Split '{spec}': pct1_dropremainder on a split of fewer than 100 rows always gives an empty dataset.");
                b = v * (long)Math.Truncate(n / 100.0);
            }
            else b = (long)Math.Round(v * (double)n / 100.0, MidpointRounding.ToEven);
        }
        if (b < 0) b = Math.Max(n + b, 0);
        return (int)Math.Min(b, n);
    }
}
