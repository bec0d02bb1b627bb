using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Finetune.Data.Arrow;

/// <summary>
/// Our columns as Arrow arrays and back, with the Arrow types `datasets` gives each feature: Value dtypes as their
/// Arrow primitive, ClassLabel as int64, a list of ints as `list&lt;item: int32&gt;`. Reading checks each chunk's
/// type against the declared feature and its buffers against its length before anything is allocated, so a corrupt
/// file fails in one error and never sizes an allocation beyond what its buffers hold.
/// </summary>
internal static class ArrowColumns
{
    /// <summary>The Arrow type `datasets` stores a value of <paramref name="dtype"/> as.</summary>
    public static ArrowTypeId TypeIdOf(string dtype) => dtype switch
    {
        "string" => ArrowTypeId.String,
        "large_string" => ArrowTypeId.LargeString,
        "bool" => ArrowTypeId.Boolean,
        "int8" => ArrowTypeId.Int8,
        "int16" => ArrowTypeId.Int16,
        "int32" => ArrowTypeId.Int32,
        "int64" => ArrowTypeId.Int64,
        "uint8" => ArrowTypeId.UInt8,
        "uint16" => ArrowTypeId.UInt16,
        "uint32" => ArrowTypeId.UInt32,
        "uint64" => ArrowTypeId.UInt64,
        "float16" => ArrowTypeId.HalfFloat,
        "float32" or "float" => ArrowTypeId.Float,
        "float64" or "double" => ArrowTypeId.Double,
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"Value type '{dtype}' is not supported."),
    };

    /// <summary>The feature `datasets` infers for an Arrow field when no features are declared; null if none fits.</summary>
    public static HfFeature? Infer(IArrowType type)
    {
        string? scalar = DtypeOf(type.TypeId);
        if (scalar != null) return new HfFeature(Value.Parse(scalar), scalar, false);
        if (type is ListType l && DtypeOf(l.ValueDataType.TypeId) is { } e && IsListElement(e)) return new HfFeature(Sequence.Int32, e, true);
        if (type is LargeListType ll && DtypeOf(ll.ValueDataType.TypeId) is { } le && IsListElement(le)) return new HfFeature(Sequence.Int32, le, true, true);
        return null;
    }

    private static bool IsListElement(string dtype) => dtype is "int8" or "int16" or "int32" or "int64" or "uint8" or "uint16";

    private static string? DtypeOf(ArrowTypeId id) => id switch
    {
        ArrowTypeId.String => "string",
        ArrowTypeId.LargeString => "large_string",
        ArrowTypeId.Boolean => "bool",
        ArrowTypeId.Int8 => "int8",
        ArrowTypeId.Int16 => "int16",
        ArrowTypeId.Int32 => "int32",
        ArrowTypeId.Int64 => "int64",
        ArrowTypeId.UInt8 => "uint8",
        ArrowTypeId.UInt16 => "uint16",
        ArrowTypeId.UInt32 => "uint32",
        ArrowTypeId.UInt64 => "uint64",
        ArrowTypeId.HalfFloat => "float16",
        ArrowTypeId.Float => "float32",
        ArrowTypeId.Double => "float64",
        _ => null,
    };

    /// <summary>A readable name of an Arrow type for error messages (pyarrow's spelling where it is simple).</summary>
    public static string Describe(IArrowType t) => t switch
    {
        ListType l => $"list<{Describe(l.ValueDataType)}>",
        LargeListType l => $"large_list<{Describe(l.ValueDataType)}>",
        _ => DtypeOf(t.TypeId) ?? t.Name,
    };

    /// <summary>Whether an Arrow field's type is the one <paramref name="f"/> declares.</summary>
    public static bool Fits(IArrowType t, HfFeature f)
    {
        if (!f.IsList) return t.TypeId == TypeIdOf(f.Dtype);
        IArrowType? element = t switch { ListType l when !f.LargeList => l.ValueDataType, LargeListType l => l.ValueDataType, _ => null };
        return element != null && element.TypeId == TypeIdOf(f.Dtype);
    }

    /// <summary>
    /// One column from its chunks (one per record batch), already checked to fit <paramref name="f"/>. Errors name
    /// <paramref name="source"/> and the column.
    /// </summary>
    public static Column Read(IReadOnlyList<IArrowArray> chunks, HfFeature f, string column, string source)
    {
        long total = 0;
        foreach (var c in chunks)
        {
            Validate(c, column, source);
            total += c.Length;
        }
        if (total > System.Array.MaxLength) throw FinetuneException.Invalid($"'{source}': column '{column}' holds {total} rows, more than one column can.");
        int rows = (int)total;
        bool[]? nulls = null;
        int at = 0;
        foreach (var c in chunks)
        {
            if (c.NullCount > 0)
            {
                nulls ??= new bool[rows];
                for (int i = 0; i < c.Length; i++) nulls[at + i] = c.IsNull(i);
            }
            at += c.Length;
        }
        switch (f.Type.Storage)
        {
            case DType.String:
                {
                    var v = new string?[rows];
                    at = 0;
                    foreach (var c in chunks) at += Strings(c, v.AsSpan(at), column, source);
                    return Column.Strings(v);
                }
            case DType.Int32:
                {
                    var v = new int[rows];
                    at = 0;
                    foreach (var c in chunks) at += Ints(c, v.AsSpan(at));
                    return Column.Int32s(v, nulls);
                }
            case DType.Int64:
                {
                    var v = new long[rows];
                    at = 0;
                    foreach (var c in chunks) at += Longs(c, v.AsSpan(at), column, source);
                    return Column.Int64s(v, nulls);
                }
            case DType.Float32:
                {
                    var v = new float[rows];
                    at = 0;
                    foreach (var c in chunks)
                    {
                        var dst = v.AsSpan(at, c.Length);
                        if (c is FloatArray fa) fa.Values.CopyTo(dst);
                        else
                        {
                            var h = ((HalfFloatArray)c).Values;
                            for (int i = 0; i < dst.Length; i++) dst[i] = (float)h[i];
                        }
                        at += c.Length;
                    }
                    return Column.Float32s(v, nulls);
                }
            case DType.Float64:
                {
                    var v = new double[rows];
                    at = 0;
                    foreach (var c in chunks)
                    {
                        ((DoubleArray)c).Values.CopyTo(v.AsSpan(at));
                        at += c.Length;
                    }
                    return Column.Float64s(v, nulls);
                }
            case DType.Bool:
                {
                    var v = new bool[rows];
                    at = 0;
                    foreach (var c in chunks)
                    {
                        var b = (BooleanArray)c;
                        for (int i = 0; i < b.Length; i++) v[at + i] = b.GetValue(i) == true;
                        at += c.Length;
                    }
                    return Column.Bools(v, nulls);
                }
            default:
                {
                    var v = new int[]?[rows];
                    at = 0;
                    foreach (var c in chunks) at += Lists(c, v.AsSpan(at), column, source);
                    return Column.Int32Lists(v);
                }
        }
    }

    /// <summary>Checks that an array's buffers hold its length (and its list offsets stay inside its values).</summary>
    private static void Validate(IArrowArray a, string column, string source)
    {
        var d = a.Data;
        long end = (long)d.Offset + d.Length;
        if (d.Offset < 0 || d.Length < 0) throw Damaged(source, column, "a negative length or offset");
        if (a.NullCount > 0 && d.Buffers[0].Length * 8L < end) throw Damaged(source, column, "a validity bitmap shorter than its rows");
        switch (a)
        {
            case BooleanArray b:
                if (b.ValueBuffer.Length * 8L < end) throw Damaged(source, column, "fewer values than rows");
                break;
            case StringArray s:
                Offsets(s.ValueOffsetsBuffer.Span, d.Offset, d.Length, s.ValueBuffer.Length, column, source);
                break;
            case LargeStringArray s:
                LargeOffsets(s.ValueOffsetsBuffer.Span, d.Offset, d.Length, s.ValueBuffer.Length, column, source);
                break;
            case ListArray l:
                Offsets(l.ValueOffsetsBuffer.Span, d.Offset, d.Length, l.Values.Length, column, source);
                ListValues(l.Values, column, source);
                break;
            case LargeListArray l:
                LargeOffsets(l.ValueOffsetsBuffer.Span, d.Offset, d.Length, l.Values.Length, column, source);
                ListValues(l.Values, column, source);
                break;
            default:
                int width = ((FixedWidthType)d.DataType).BitWidth / 8;
                if (d.Buffers[1].Length < end * width) throw Damaged(source, column, "fewer values than rows");
                break;
        }
    }

    private static void ListValues(IArrowArray values, string column, string source)
    {
        Validate(values, column, source);
        if (values.NullCount > 0) throw new FinetuneException(ErrorKind.Unsupported, $"'{source}': column '{column}' has null list elements, which lists of int cannot hold.");
    }

    private static void Offsets(ReadOnlySpan<byte> buffer, int offset, int length, int valuesLength, string column, string source)
    {
        if (buffer.Length < ((long)offset + length + 1) * 4)
        {
            if (length == 0) return;
            throw Damaged(source, column, "fewer offsets than rows");
        }
        var o = MemoryMarshal.Cast<byte, int>(buffer).Slice(offset, length + 1);
        for (int i = 0; i < length; i++)
        {
            if (o[i] < 0 || o[i + 1] < o[i]) throw Damaged(source, column, "offsets that decrease");
        }
        if (o[length] > valuesLength) throw Damaged(source, column, "offsets past the end of its values");
    }

    private static void LargeOffsets(ReadOnlySpan<byte> buffer, int offset, int length, long valuesLength, string column, string source)
    {
        if (buffer.Length < ((long)offset + length + 1) * 8)
        {
            if (length == 0) return;
            throw Damaged(source, column, "fewer offsets than rows");
        }
        var o = MemoryMarshal.Cast<byte, long>(buffer).Slice(offset, length + 1);
        for (int i = 0; i < length; i++)
        {
            if (o[i] < 0 || o[i + 1] < o[i]) throw Damaged(source, column, "offsets that decrease");
        }
        if (o[length] > valuesLength) throw Damaged(source, column, "offsets past the end of its values");
    }

    private static FinetuneException Damaged(string source, string column, string what) =>
        FinetuneException.Invalid($"'{source}' is damaged: column '{column}' has {what}.");

    private static int Strings(IArrowArray a, Span<string?> dst, string column, string source)
    {
        try
        {
            switch (a)
            {
                case StringArray s:
                    for (int i = 0; i < s.Length; i++) dst[i] = s.IsNull(i) ? null : Utf8(s.GetBytes(i));
                    break;
                case LargeStringArray s:
                    for (int i = 0; i < s.Length; i++) dst[i] = s.IsNull(i) ? null : Utf8(s.GetBytes(i));
                    break;
            }
        }
        catch (DecoderFallbackException)
        {
            throw FinetuneException.Invalid($"'{source}': column '{column}' holds a string that is not valid UTF-8.");
        }
        return a.Length;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private static string Utf8(ReadOnlySpan<byte> bytes) => bytes.IsEmpty ? "" : StrictUtf8.GetString(bytes);

    /// <summary>Integers of any width up to 32 bits (and uint16) into int32.</summary>
    private static int Ints(IArrowArray a, Span<int> dst)
    {
        switch (a)
        {
            case Int32Array x: x.Values.CopyTo(dst); break;
            case Int16Array x: Widen(x.Values, dst); break;
            case Int8Array x: Widen(x.Values, dst); break;
            case UInt16Array x: Widen(x.Values, dst); break;
            case UInt8Array x: Widen(x.Values, dst); break;
            case Int64Array x:
                {
                    var s = x.Values;
                    for (int i = 0; i < s.Length; i++) dst[i] = checked((int)s[i]);
                    break;
                }
        }
        return a.Length;
    }

    private static void Widen<T>(ReadOnlySpan<T> s, Span<int> dst) where T : struct, System.Numerics.IBinaryInteger<T>
    {
        for (int i = 0; i < s.Length; i++) dst[i] = int.CreateTruncating(s[i]);
    }

    private static int Longs(IArrowArray a, Span<long> dst, string column, string source)
    {
        switch (a)
        {
            case Int64Array x: x.Values.CopyTo(dst); break;
            case UInt32Array x:
                {
                    var s = x.Values;
                    for (int i = 0; i < s.Length; i++) dst[i] = s[i];
                    break;
                }
            case UInt64Array x:
                {
                    var s = x.Values;
                    for (int i = 0; i < s.Length; i++)
                        dst[i] = s[i] <= long.MaxValue ? (long)s[i] : throw new FinetuneException(ErrorKind.Unsupported, $"'{source}': column '{column}' holds {s[i]}, beyond int64.");
                    break;
                }
        }
        return a.Length;
    }

    private static int Lists(IArrowArray a, Span<int[]?> dst, string column, string source)
    {
        var values = a is ListArray l ? l.Values : ((LargeListArray)a).Values;
        var flat = new int[values.Length];
        try
        {
            Ints(values, flat);
        }
        catch (OverflowException)
        {
            throw FinetuneException.Invalid($"'{source}': column '{column}' holds a list element outside int32.");
        }
        for (int i = 0; i < a.Length; i++)
        {
            if (a.IsNull(i)) continue;
            (long start, long end) = a is ListArray la ? (la.ValueOffsets[i], la.ValueOffsets[i + 1]) : (((LargeListArray)a).ValueOffsets[i], ((LargeListArray)a).ValueOffsets[i + 1]);
            dst[i] = flat.AsSpan((int)start, (int)(end - start)).ToArray();
        }
        return a.Length;
    }

    /// <summary>The Arrow type `datasets` writes for <paramref name="type"/>.</summary>
    public static IArrowType TypeOf(FeatureType type) => type.Storage switch
    {
        DType.String => StringType.Default,
        DType.Int32 => Int32Type.Default,
        DType.Int64 => Int64Type.Default,
        DType.Float32 => FloatType.Default,
        DType.Float64 => DoubleType.Default,
        DType.Bool => BooleanType.Default,
        _ => new ListType(new Field("item", Int32Type.Default, true)),
    };

    /// <summary>Rows [<paramref name="start"/>, start + <paramref name="count"/>) of a column as an Arrow array of <see cref="TypeOf"/>.</summary>
    public static IArrowArray Write(Column col, FeatureType type, int start, int count)
    {
        var (validity, nullCount) = Validity(col, start, count);
        switch (col)
        {
            case Column<string?> c:
                {
                    var offsets = new int[count + 1];
                    long bytes = 0;
                    for (int i = 0; i < count; i++)
                    {
                        bytes += c.Values[start + i] is { } s ? Encoding.UTF8.GetByteCount(s) : 0;
                        if (bytes > int.MaxValue) throw new FinetuneException(ErrorKind.Unsupported, "A string column holds more than 2 GiB in one Arrow batch.");
                        offsets[i + 1] = (int)bytes;
                    }
                    var data = new byte[bytes];
                    for (int i = 0; i < count; i++)
                    {
                        if (c.Values[start + i] is { } s) Encoding.UTF8.GetBytes(s, data.AsSpan(offsets[i]));
                    }
                    return new StringArray(count, Buffer(offsets), new ArrowBuffer(data), validity, nullCount);
                }
            case Column<int> c: return new Int32Array(Buffer(c.Values.AsSpan(start, count)), validity, count, nullCount, 0);
            case Column<long> c: return new Int64Array(Buffer(c.Values.AsSpan(start, count)), validity, count, nullCount, 0);
            case Column<float> c: return new FloatArray(Buffer(c.Values.AsSpan(start, count)), validity, count, nullCount, 0);
            case Column<double> c: return new DoubleArray(Buffer(c.Values.AsSpan(start, count)), validity, count, nullCount, 0);
            case Column<bool> c:
                {
                    var bits = new byte[(count + 7) / 8];
                    for (int i = 0; i < count; i++) if (c.Values[start + i]) bits[i >> 3] |= (byte)(1 << (i & 7));
                    return new BooleanArray(new ArrowBuffer(bits), validity, count, nullCount, 0);
                }
            case Column<int[]?> c:
                {
                    var offsets = new int[count + 1];
                    long n = 0;
                    for (int i = 0; i < count; i++)
                    {
                        n += c.Values[start + i]?.Length ?? 0;
                        if (n > int.MaxValue) throw new FinetuneException(ErrorKind.Unsupported, "A list column holds more than 2^31 elements in one Arrow batch.");
                        offsets[i + 1] = (int)n;
                    }
                    var flat = new int[n];
                    for (int i = 0; i < count; i++) c.Values[start + i]?.CopyTo(flat, offsets[i]);
                    var values = new Int32Array(Buffer<int>(flat), ArrowBuffer.Empty, flat.Length, 0, 0);
                    return new ListArray(TypeOf(type), count, Buffer(offsets), values, validity, nullCount);
                }
            default:
                throw new FinetuneException(ErrorKind.Unsupported, $"A {col.DType} column cannot be written as Arrow.");
        }
    }

    private static ArrowBuffer Buffer<T>(ReadOnlySpan<T> values) where T : struct => new(MemoryMarshal.AsBytes(values).ToArray());

    private static ArrowBuffer Buffer<T>(T[] values) where T : struct => Buffer((ReadOnlySpan<T>)values);

    private static (ArrowBuffer Validity, int NullCount) Validity(Column col, int start, int count)
    {
        if (!col.HasNulls) return (ArrowBuffer.Empty, 0);
        var bits = new byte[(count + 7) / 8];
        int nulls = 0;
        for (int i = 0; i < count; i++)
        {
            if (col.IsNull(start + i)) nulls++;
            else bits[i >> 3] |= (byte)(1 << (i & 7));
        }
        return nulls == 0 ? (ArrowBuffer.Empty, 0) : (new ArrowBuffer(bits), nulls);
    }
}
