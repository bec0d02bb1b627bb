using System.Globalization;

namespace Finetune.Data.Loading;

/// <summary>Type inference for text cells, following pandas' read_csv (which HF's csv loader uses).</summary>
internal static class ValueParsing
{
    public static bool IsInt(string s) => long.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out _);

    public static bool IsFloat(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        || s.Trim() is "nan" or "NaN" or "inf" or "-inf" or "Infinity" or "-Infinity";

    public static bool IsBool(string s) => s is "True" or "False" or "TRUE" or "FALSE" or "true" or "false";

    /// <summary>Whether <paramref name="s"/> can become a value of <paramref name="type"/> (empty = null is fine).</summary>
    public static bool Fits(string s, FeatureType type)
    {
        if (s.Length == 0) return true;
        return type switch
        {
            ClassLabel cl => cl.TryStr2Int(s, out _) || (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) && l >= -1 && l < cl.NumClasses),
            _ => type.Storage switch
            {
                DType.Int32 or DType.Int64 => IsInt(s),
                DType.Float32 or DType.Float64 => IsFloat(s),
                DType.Bool => IsBool(s) || IsInt(s),
                _ => true,
            },
        };
    }

    /// <summary>A column of text cells typed as pandas would: int64, float64, bool or string.</summary>
    public static Column Infer(string[] cells)
    {
        bool allInt = true, allFloat = true, allBool = true, anyValue = false;
        foreach (var s in cells)
        {
            if (s.Length == 0) continue;
            anyValue = true;
            if (allInt && !IsInt(s)) allInt = false;
            if (allFloat && !IsFloat(s)) allFloat = false;
            if (allBool && !IsBool(s)) allBool = false;
            if (!allInt && !allFloat && !allBool) break;
        }
        if (!anyValue) return Column.Strings(cells);
        var nulls = new bool[cells.Length];
        for (int i = 0; i < cells.Length; i++) nulls[i] = cells[i].Length == 0;
        if (allInt)
        {
            var v = new long[cells.Length];
            for (int i = 0; i < v.Length; i++) if (!nulls[i]) v[i] = long.Parse(cells[i], NumberStyles.Integer, CultureInfo.InvariantCulture);
            return Column.Int64s(v, nulls);
        }
        if (allFloat)
        {
            var v = new double[cells.Length];
            for (int i = 0; i < v.Length; i++) if (!nulls[i]) v[i] = ParseDouble(cells[i]);
            return Column.Float64s(v, nulls);
        }
        if (allBool)
        {
            var v = new bool[cells.Length];
            for (int i = 0; i < v.Length; i++) if (!nulls[i]) v[i] = cells[i] is "True" or "TRUE" or "true";
            return Column.Bools(v, nulls);
        }
        return Column.Strings(cells);
    }

    public static double ParseDouble(string s) => s.Trim() switch
    {
        "nan" or "NaN" => double.NaN,
        "inf" or "Infinity" => double.PositiveInfinity,
        "-inf" or "-Infinity" => double.NegativeInfinity,
        var t => double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
