using System.Collections;

namespace Finetune.Data;

/// <summary>
/// One column of a <see cref="Dataset"/>: a typed array plus an optional null mask. Columns are immutable once
/// built; operations return new columns, so datasets can share them.
/// </summary>
public abstract class Column
{
    public abstract int Length { get; }

    public abstract DType DType { get; }

    public abstract bool IsNull(int row);

    public abstract bool HasNulls { get; }

    /// <summary>The value boxed (null where missing): string, int, long, float, double, bool or int[].</summary>
    public abstract object? GetValue(int row);

    /// <summary>A new column holding the rows at <paramref name="indices"/>, in that order.</summary>
    public abstract Column Take(ReadOnlySpan<int> indices);

    public abstract Column Slice(int start, int count);

    public static Column Concat(IReadOnlyList<Column> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("no columns to concatenate");
        DType t = parts[0].DType;
        foreach (var p in parts)
        {
            if (p.DType != t) throw FinetuneException.Invalid($"Cannot concatenate a {p.DType} column with a {t} column.");
        }
        return t switch
        {
            DType.String => Column<string?>.ConcatTyped(parts, t),
            DType.Int32 => Column<int>.ConcatTyped(parts, t),
            DType.Int64 => Column<long>.ConcatTyped(parts, t),
            DType.Float32 => Column<float>.ConcatTyped(parts, t),
            DType.Float64 => Column<double>.ConcatTyped(parts, t),
            DType.Bool => Column<bool>.ConcatTyped(parts, t),
            _ => Column<int[]?>.ConcatTyped(parts, t),
        };
    }

    public static Column<string?> Strings(string?[] values) => new(DType.String, values, NullsOf(values));
    public static Column<int> Int32s(int[] values, bool[]? nulls = null) => new(DType.Int32, values, nulls);
    public static Column<long> Int64s(long[] values, bool[]? nulls = null) => new(DType.Int64, values, nulls);
    public static Column<float> Float32s(float[] values, bool[]? nulls = null) => new(DType.Float32, values, nulls);
    public static Column<double> Float64s(double[] values, bool[]? nulls = null) => new(DType.Float64, values, nulls);
    public static Column<bool> Bools(bool[] values, bool[]? nulls = null) => new(DType.Bool, values, nulls);
    public static Column<int[]?> Int32Lists(int[]?[] values) => new(DType.Int32List, values, NullsOf(values));

    private static bool[]? NullsOf<T>(T?[] values) where T : class
    {
        bool[]? nulls = null;
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] == null) (nulls ??= new bool[values.Length])[i] = true;
        }
        return nulls;
    }

    /// <summary>
    /// Builds a column from what a map function returned: string[], int[], long[], float[], double[], bool[],
    /// int[][] or any list of int lists (List&lt;int[]&gt;, IReadOnlyList&lt;IReadOnlyList&lt;int&gt;&gt;).
    /// </summary>
    public static Column FromList(string name, IList values)
    {
        switch (values)
        {
            case string?[] s: return Strings(s);
            case int[] a: return Int32s(a);
            case long[] a: return Int64s(a);
            case float[] a: return Float32s(a);
            case double[] a: return Float64s(a);
            case bool[] a: return Bools(a);
            case int[]?[] a: return Int32Lists(a);
            case List<string?> l: return Strings(l.ToArray());
            case List<int> l: return Int32s(l.ToArray());
            case List<long> l: return Int64s(l.ToArray());
            case List<float> l: return Float32s(l.ToArray());
            case List<double> l: return Float64s(l.ToArray());
            case List<bool> l: return Bools(l.ToArray());
        }
        var lists = new int[]?[values.Count];
        for (int i = 0; i < lists.Length; i++)
        {
            lists[i] = values[i] switch
            {
                null => null,
                int[] a => a,
                IEnumerable<int> e => e.ToArray(),
                _ => throw FinetuneException.Invalid($"Column '{name}' returned by map holds {values[i]!.GetType().Name} values; use string, int, long, float, double, bool or lists of int."),
            };
        }
        return Int32Lists(lists);
    }
}

/// <summary>A column whose values are <typeparamref name="T"/>; <see cref="Nulls"/> marks missing rows (or is null).</summary>
public sealed class Column<T> : Column
{
    private readonly DType _dtype;

    public Column(DType dtype, T[] values, bool[]? nulls = null)
    {
        if (nulls != null && nulls.Length != values.Length) throw new ArgumentException("null mask length differs from values");
        _dtype = dtype;
        Values = values;
        Nulls = nulls != null && Array.IndexOf(nulls, true) >= 0 ? nulls : null;
    }

    /// <summary>The raw values; a null row holds default(T).</summary>
    public T[] Values { get; }

    public bool[]? Nulls { get; }

    public override int Length => Values.Length;

    public override DType DType => _dtype;

    public override bool HasNulls => Nulls != null;

    public override bool IsNull(int row) => Nulls != null ? Nulls[row] : Values[row] is null;

    public override object? GetValue(int row) => IsNull(row) ? null : Values[row];

    public T this[int row] => Values[row];

    public override Column Take(ReadOnlySpan<int> indices)
    {
        var v = new T[indices.Length];
        bool[]? n = Nulls == null ? null : new bool[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int j = indices[i];
            if ((uint)j >= (uint)Values.Length) throw new IndexOutOfRangeException($"Row index {j} is out of range for {Values.Length} rows.");
            v[i] = Values[j];
            if (n != null) n[i] = Nulls![j];
        }
        return new Column<T>(_dtype, v, n);
    }

    public override Column Slice(int start, int count) =>
        new Column<T>(_dtype, Values.AsSpan(start, count).ToArray(), Nulls?.AsSpan(start, count).ToArray());

    internal static Column ConcatTyped(IReadOnlyList<Column> parts, DType t)
    {
        int total = 0;
        bool anyNull = false;
        foreach (var p in parts) { total += p.Length; anyNull |= p.HasNulls; }
        var v = new T[total];
        bool[]? n = anyNull ? new bool[total] : null;
        int at = 0;
        foreach (var p in parts)
        {
            var c = (Column<T>)p;
            c.Values.CopyTo(v, at);
            c.Nulls?.CopyTo(n!, at);
            at += c.Length;
        }
        return new Column<T>(t, v, n);
    }
}
