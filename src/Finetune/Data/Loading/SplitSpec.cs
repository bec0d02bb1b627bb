using System.Globalization;
using System.Text.RegularExpressions;

namespace Finetune.Data.Loading;

/// <summary>
/// HF split strings: "train", "train[:1000]", "train[10:20]", "train[:10%]", "train[-5%:]", "train+test".
/// Percent boundaries round to the nearest row as HF's ReadInstruction does (Python's round: half to even).
/// </summary>
internal static partial class SplitSpec
{
    [GeneratedRegex(@"^\s*(?<name>[\w\-.]+)\s*(\[\s*(?<from>-?\d+%?)?\s*:\s*(?<to>-?\d+%?)?\s*\])?\s*$")]
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
            int n = ds.NumRows;
            int from = Bound(m.Groups["from"], n, 0);
            int to = Bound(m.Groups["to"], n, n);
            parts.Add(ds.Select(from, Math.Max(0, to - from)));
        }
        return parts.Count == 1 ? parts[0] : Dataset.Concatenate(parts.ToArray());
    }

    private static int Bound(Group g, int n, int dflt)
    {
        if (!g.Success || g.Value.Length == 0) return dflt;
        string v = g.Value;
        long b;
        if (v.EndsWith('%'))
        {
            int pct = int.Parse(v[..^1], CultureInfo.InvariantCulture);
            if (pct < -100 || pct > 100) throw FinetuneException.Invalid($"Percent slice boundary {v} is outside -100%..100%.");
            b = (long)Math.Round(pct * (double)n / 100.0, MidpointRounding.ToEven);
        }
        else b = long.Parse(v, CultureInfo.InvariantCulture);
        if (b < 0) b += n;
        return (int)Math.Clamp(b, 0, n);
    }
}
