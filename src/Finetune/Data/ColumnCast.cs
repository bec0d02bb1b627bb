using System.Globalization;

namespace Finetune.Data;

/// <summary>Converts a column to the storage a feature needs (HF `cast_column`).</summary>
internal static class ColumnCast
{
    public static Column To(Column col, FeatureType type, string name, Func<int, string>? where = null)
    {
        where ??= i => $"Column '{name}' row {i}";
        if (type is ClassLabel cl) return ToClassLabel(col, cl, where);
        if (col.DType == type.Storage) return col;
        int n = col.Length;
        var nulls = new bool[n];
        for (int i = 0; i < n; i++) nulls[i] = col.IsNull(i);
        switch (type.Storage)
        {
            case DType.String:
                {
                    var v = new string?[n];
                    for (int i = 0; i < n; i++) v[i] = col.IsNull(i) ? null : Convert.ToString(col.GetValue(i), CultureInfo.InvariantCulture);
                    return Column.Strings(v);
                }
            case DType.Int32:
                {
                    var v = new int[n];
                    for (int i = 0; i < n; i++) if (!nulls[i]) v[i] = checked((int)ToLong(col, i, where));
                    return Column.Int32s(v, nulls);
                }
            case DType.Int64:
                {
                    var v = new long[n];
                    for (int i = 0; i < n; i++) if (!nulls[i]) v[i] = ToLong(col, i, where);
                    return Column.Int64s(v, nulls);
                }
            case DType.Float32:
                {
                    var v = new float[n];
                    for (int i = 0; i < n; i++) if (!nulls[i]) v[i] = (float)ToDouble(col, i, where);
                    return Column.Float32s(v, nulls);
                }
            case DType.Float64:
                {
                    var v = new double[n];
                    for (int i = 0; i < n; i++) if (!nulls[i]) v[i] = ToDouble(col, i, where);
                    return Column.Float64s(v, nulls);
                }
            case DType.Bool:
                {
                    var v = new bool[n];
                    for (int i = 0; i < n; i++) if (!nulls[i]) v[i] = ToLong(col, i, where) != 0;
                    return Column.Bools(v, nulls);
                }
            default:
                throw new FinetuneException(ErrorKind.Unsupported, $"Column '{name}' ({col.DType}) cannot be cast to {type}.");
        }
    }

    private static long ToLong(Column col, int i, Func<int, string> where) => col.GetValue(i) switch
    {
        int x => x,
        long x => x,
        bool b => b ? 1 : 0,
        float f when f == Math.Floor(f) => (long)f,
        double d when d == Math.Floor(d) => (long)d,
        string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) => l,
        var o => throw FinetuneException.Invalid($"{where(i)}: '{o}' is not an integer."),
    };

    private static double ToDouble(Column col, int i, Func<int, string> where) => col.GetValue(i) switch
    {
        int x => x,
        long x => x,
        float f => f,
        double d => d,
        bool b => b ? 1 : 0,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        var o => throw FinetuneException.Invalid($"{where(i)}: '{o}' is not a number."),
    };

    private static Column ToClassLabel(Column col, ClassLabel cl, Func<int, string> where)
    {
        int n = col.Length;
        var v = new long[n];
        bool[]? nulls = null;
        for (int i = 0; i < n; i++)
        {
            if (col.IsNull(i)) { (nulls ??= new bool[n])[i] = true; continue; }
            long id = col.GetValue(i) switch
            {
                string s => cl.TryStr2Int(s, out int k) ? k
                    : long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) ? l
                    : throw FinetuneException.Invalid($"{where(i)}: unknown label '{s}'; the known labels are: {string.Join(", ", cl.Names)}."),
                var o => ToLong(col, i, where),
            };
            if (id < -1 || id >= cl.NumClasses)
                throw FinetuneException.Invalid($"{where(i)}: label {id} is out of range for the {cl.NumClasses} classes ({string.Join(", ", cl.Names)}).");
            v[i] = id;
        }
        return Column.Int64s(v, nulls);
    }
}
