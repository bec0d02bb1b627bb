using System.Text;
using System.Text.Json;
using Finetune.Data.Loading;

namespace Finetune.Data.Parquet;

/// <summary>
/// Loads a Parquet file into a <see cref="Dataset"/>: top-level scalar columns (bool, int32/int64, float/double,
/// UTF-8 strings, decimals as float64, float16 as float32, nullable) and lists of ints; the `huggingface` schema
/// metadata, when present, supplies the features (ClassLabel names). Corrupt files fail with InvalidInput,
/// valid files using what is not implemented (encryption, LZO, nested structs, maps) with Unsupported.
/// </summary>
internal static class ParquetLoader
{
    public static Dataset Load(string path, LoadOptions o)
    {
        byte[] bytes = TextSource.ReadBytes(path);
        try
        {
            var reader = ParquetReader.Open(bytes);
            var (features, columns) = ReadColumns(reader);
            var hf = HfFeatures(reader, path);
            var declared = o.Features;
            var f = new Features();
            var cols = new List<Column>();
            for (int i = 0; i < columns.Count; i++)
            {
                string name = features[i].Key;
                FeatureType type = features[i].Value;
                Column col = columns[i];
                FeatureType? want = declared != null && declared.TryGet(name, out var d) ? d : hf != null && hf.TryGet(name, out var h) ? h : null;
                if (want != null && (want is ClassLabel || want.Storage != DType.Int32List))
                {
                    col = ColumnCast.To(col, want, name, r => $"{path}: row {r} of column '{name}'");
                    type = want;
                }
                f.Add(name, type);
                cols.Add(col);
            }
            return new Dataset(f, cols, FileFingerprint.Of(path)) { SourceFiles = new[] { Path.GetFullPath(path) } };
        }
        catch (ParquetFormatException e)
        {
            throw FinetuneException.Invalid($"'{path}' is not a valid Parquet file: {e.Message}.", e);
        }
        catch (UnsupportedParquetException e)
        {
            throw new FinetuneException(ErrorKind.Unsupported, $"'{path}' cannot be read: {e.Message}.", e);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or OverflowException or InvalidCastException)
        {
            throw FinetuneException.Invalid($"'{path}' is not a valid Parquet file: {e.Message}", e);
        }
    }

    private static (List<KeyValuePair<string, FeatureType>>, List<Column>) ReadColumns(ParquetReader reader)
    {
        var leaves = reader.Schema.Leaves().ToList();
        var features = new List<KeyValuePair<string, FeatureType>>();
        var columns = new List<Column>();
        long rows = reader.NumRows;
        if (rows < 0) throw new ParquetFormatException($"the file claims {rows} rows");
        foreach (var field in reader.Schema.Children)
        {
            var mine = leaves.Select((l, i) => (l, i)).Where(x => x.l.Path == field.Name || x.l.Path.StartsWith(field.Name + ".", StringComparison.Ordinal)).ToList();
            Column col;
            if (field.IsLeaf && field.Repetition != Repetition.Repeated)
            {
                var (leaf, index) = mine[0];
                col = Scalar(leaf.Leaf, reader.ReadColumn(index, leaf.Leaf, leaf.MaxDef, leaf.MaxRep), leaf.MaxDef);
            }
            else if (mine.Count == 1 && mine[0].l.MaxRep == 1 && (field.IsList || field.IsLeaf || OnlyRepeatedChain(field)))
            {
                var (leaf, index) = mine[0];
                col = IntList(field, leaf.Leaf, reader.ReadColumn(index, leaf.Leaf, leaf.MaxDef, leaf.MaxRep), leaf.MaxDef);
            }
            else
            {
                throw new UnsupportedParquetException($"column '{field.Name}' is a nested {(field.IsList ? "list" : field.ConvertedType is 1 or 2 || field.LogicalType?.Has(2) == true ? "map" : "struct")}, which is not supported (top-level scalars and lists of int are)");
            }
            if (col.Length != rows) throw new ParquetFormatException($"column '{field.Name}' has {col.Length} rows but the file has {rows}");
            features.Add(new(field.Name, FeatureType.Of(col.DType)));
            columns.Add(col);
        }
        return (features, columns);
    }

    private static bool OnlyRepeatedChain(SchemaNode n)
    {
        while (!n.IsLeaf)
        {
            if (n.Children.Count != 1) return false;
            n = n.Children[0];
        }
        return true;
    }

    private static Column Scalar(SchemaNode leaf, ColumnValues cv, int maxDef)
    {
        int n = cv.Def.Length;
        var nulls = new bool[n];
        var map = new int[n];
        int k = 0;
        for (int i = 0; i < n; i++)
        {
            if (cv.Def[i] == maxDef) map[i] = k++;
            else { nulls[i] = true; map[i] = -1; }
        }
        if (k != cv.Values.Length) throw new ParquetFormatException($"column '{leaf.Name}' has {cv.Values.Length} values for {k} non-null rows");
        T[] Spread<T>(Func<int, T> get)
        {
            var a = new T[n];
            for (int i = 0; i < n; i++) if (map[i] >= 0) a[i] = get(map[i]);
            return a;
        }
        double Scale(double unscaled) => unscaled / Math.Pow(10, leaf.DecimalScale);
        switch (cv.Values)
        {
            case bool[] b: return Column.Bools(Spread(i => b[i]), nulls);
            case int[] v when leaf.IsDecimal: return Column.Float64s(Spread(i => Scale(v[i])), nulls);
            case int[] v when leaf.IsUnsigned && leaf.IntBits == 32: return Column.Int64s(Spread(i => (long)(uint)v[i]), nulls);
            case int[] v: return Column.Int32s(Spread(i => v[i]), nulls);
            case long[] v when leaf.IsDecimal: return Column.Float64s(Spread(i => Scale(v[i])), nulls);
            case long[] v: return Column.Int64s(Spread(i => v[i]), nulls);
            case float[] v: return Column.Float32s(Spread(i => v[i]), nulls);
            case double[] v: return Column.Float64s(Spread(i => v[i]), nulls);
            case byte[][] v when leaf.Type == PhysicalType.Int96: return Column.Int64s(Spread(i => Int96Nanos(v[i], leaf.Name)), nulls);
            case byte[][] v when leaf.IsDecimal: return Column.Float64s(Spread(i => Scale(BigEndianSigned(v[i]))), nulls);
            case byte[][] v when leaf.IsFloat16:
                return Column.Float32s(Spread(i => v[i].Length == 2 ? (float)BitConverter.ToHalf(v[i]) : throw new ParquetFormatException("a FLOAT16 value is not 2 bytes")), nulls);
            case byte[][] v when leaf.Type == PhysicalType.FixedLenByteArray && !leaf.IsString:
                return Column.Strings(Spread(i => (string?)Convert.ToHexStringLower(v[i])).Select((x, i) => nulls[i] ? null : x).ToArray());
            case byte[][] v:
                var s = Spread(i => (string?)Encoding.UTF8.GetString(v[i]));
                for (int i = 0; i < n; i++) if (nulls[i]) s[i] = null;
                return Column.Strings(s);
            default:
                throw new ParquetFormatException($"column '{leaf.Name}' decoded to an unexpected type");
        }
    }

    /// <summary>A legacy INT96 timestamp (nanoseconds of the day, then the Julian day) as nanoseconds since 1970.</summary>
    private static long Int96Nanos(byte[] b, string column)
    {
        long nanos = BitConverter.ToInt64(b, 0);
        int julian = BitConverter.ToInt32(b, 8);
        try
        {
            return checked((julian - 2440588L) * 86_400_000_000_000L + nanos);
        }
        catch (OverflowException)
        {
            throw new UnsupportedParquetException($"column '{column}' holds an INT96 timestamp outside the int64 nanosecond range");
        }
    }

    private static double BigEndianSigned(byte[] b)
    {
        if (b.Length == 0) return 0;
        var big = new System.Numerics.BigInteger(b, isUnsigned: false, isBigEndian: true);
        return (double)big;
    }

    private static Column IntList(SchemaNode field, SchemaNode leaf, ColumnValues cv, int maxDef)
    {
        if (leaf.Type is not (PhysicalType.Int32 or PhysicalType.Int64) || leaf.IsDecimal)
            throw new UnsupportedParquetException($"column '{field.Name}' is a list of {leaf.Type} values; only lists of ints are supported");
        // The definition level reached at the repeated node: below it a row's list is null or empty.
        int dRep = 0;
        var chain = new List<SchemaNode>();
        for (var x = leaf; x != null && x.Parent != null; x = x.Parent) chain.Insert(0, x);
        foreach (var node in chain)
        {
            if (node.Repetition != Repetition.Required) dRep++;
            if (node.Repetition == Repetition.Repeated) break;
        }
        long At(int i) => cv.Values switch { int[] a => a[i], long[] a => a[i], _ => 0 };
        var rows = new List<int[]?>();
        List<int>? current = null;
        bool currentNull = false;
        int k = 0;
        void Flush()
        {
            if (current != null || currentNull) rows.Add(currentNull ? null : current!.ToArray());
        }
        for (int i = 0; i < cv.Def.Length; i++)
        {
            int r = cv.Rep[i], d = cv.Def[i];
            if (r > 1) throw new ParquetFormatException($"column '{field.Name}' has repetition level {r} in a single-level list");
            if (r == 0)
            {
                Flush();
                current = new List<int>();
                currentNull = d < dRep - 1;
                if (d < dRep) continue;
            }
            else if (current == null) throw new ParquetFormatException($"column '{field.Name}' starts with repetition level {r} instead of 0");
            if (d == maxDef)
            {
                if (k >= cv.Values.Length) throw new ParquetFormatException($"column '{field.Name}' runs out of values");
                long v = At(k++);
                if (v < int.MinValue || v > int.MaxValue) throw new UnsupportedParquetException($"column '{field.Name}' holds {v}, outside int32");
                current!.Add((int)v);
            }
            else if (d >= dRep) throw new UnsupportedParquetException($"column '{field.Name}' has null list elements, which lists of int cannot hold");
            else throw new ParquetFormatException($"column '{field.Name}' has an element with definition level {d} below its list's");
        }
        Flush();
        if (k != cv.Values.Length) throw new ParquetFormatException($"column '{field.Name}' has {cv.Values.Length - k} values left over");
        return Column.Int32Lists(rows.ToArray());
    }

    /// <summary>Features from the `huggingface` key (HF `datasets` writes {"info": {"features": {...}}}).</summary>
    private static Features? HfFeatures(ParquetReader reader, string path)
    {
        if (!reader.KeyValueMetadata().TryGetValue("huggingface", out var json)) return null;
        try
        {
            using var doc = SafeJson.ParseDocument(json, $"{path} (huggingface metadata)");
            if (!doc.RootElement.TryGetProperty("info", out var info) || !info.TryGetProperty("features", out var feats)) return null;
            var f = new Features();
            foreach (var p in feats.EnumerateObject())
            {
                string type = p.Value.TryGetProperty("_type", out var t) ? t.GetString() ?? "" : "";
                if (type == "ClassLabel" && p.Value.TryGetProperty("names", out var names))
                    f.Add(p.Name, new ClassLabel(names.EnumerateArray().Select(x => x.GetString() ?? "")));
                else if (type == "Value" && p.Value.TryGetProperty("dtype", out var dt))
                {
                    try { f.Add(p.Name, Value.Parse(dt.GetString() ?? "")); }
                    catch (FinetuneException) { }
                }
            }
            return f;
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"'{path}' has invalid 'huggingface' metadata: {e.Message}", e);
        }
    }
}
