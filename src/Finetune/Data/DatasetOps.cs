using System.Collections;
using System.Globalization;

namespace Finetune.Data;

public sealed partial class Dataset
{
    /// <summary>The rows at <paramref name="indices"/>, in that order (HF `select`).</summary>
    public Dataset Select(IEnumerable<int> indices)
    {
        int[] idx = indices as int[] ?? indices.ToArray();
        foreach (int i in idx)
        {
            if ((uint)i >= (uint)NumRows) throw new IndexOutOfRangeException($"Index {i} is out of range for a dataset of {NumRows} rows.");
        }
        var cols = new Column[_columns.Length];
        Parallel.For(0, cols.Length, c => cols[c] = _columns[c].Take(idx));
        return With(Features.Clone(), cols, "select:" + Hash(string.Join(",", idx)));
    }

    /// <summary>Rows start..start+count-1 (HF `select(range(start, start+count))`).</summary>
    public Dataset Select(int start, int count) => Select(Enumerable.Range(start, count));

    /// <summary>
    /// Rows in the order of `np.random.default_rng(seed).permutation(num_rows)`, exactly as HF `shuffle(seed=...)`.
    /// </summary>
    public Dataset Shuffle(ulong seed) => Select(new NumpyRandom(seed).Permutation(NumRows));

    /// <summary>Rows for which <paramref name="predicate"/> holds, in order (HF `filter`). Runs on all cores.</summary>
    public Dataset Filter(Func<IReadOnlyDictionary<string, object?>, bool> predicate, int? numProc = null)
    {
        var keep = new bool[NumRows];
        var po = new ParallelOptions { MaxDegreeOfParallelism = numProc ?? Environment.ProcessorCount };
        RunParallel(NumRows, po, i => keep[i] = predicate(Row(i)));
        var idx = new List<int>();
        for (int i = 0; i < keep.Length; i++) if (keep[i]) idx.Add(i);
        return Select(idx);
    }

    /// <summary>
    /// Batched map (HF `map(fn, batched=True)`): <paramref name="fn"/> gets a slice of rows as a dataset and
    /// returns new or replaced columns (arrays with one value per input row). Batches run in parallel on all
    /// cores and are joined in order, so the result does not depend on the number of threads.
    /// </summary>
    public Dataset Map(Func<Dataset, IReadOnlyDictionary<string, IList>> fn, MapOptions? options = null)
    {
        options ??= new MapOptions();
        int bs = Math.Max(1, options.BatchSize);
        int nb = (NumRows + bs - 1) / bs;
        var outputs = new IReadOnlyDictionary<string, IList>[nb];
        int done = 0;
        var po = new ParallelOptions { MaxDegreeOfParallelism = options.NumProc ?? Environment.ProcessorCount };
        RunParallel(nb, po, b =>
        {
            int start = b * bs, count = Math.Min(bs, NumRows - start);
            var slice = SliceRows(start, count);
            var r = fn(slice);
            foreach (var kv in r)
            {
                if (kv.Value.Count != count)
                    throw FinetuneException.Invalid($"map returned {kv.Value.Count} values for column '{kv.Key}' from a batch of {count} rows (rows {start}..{start + count - 1}); batched map must return one value per row.");
            }
            outputs[b] = r;
            int d = Interlocked.Add(ref done, count);
            options.Progress?.Report((d, NumRows));
        });
        var remove = new HashSet<string>(options.RemoveColumns ?? Array.Empty<string>());
        foreach (var r in remove) GetColumn(r);
        var features = new Features();
        var cols = new List<Column>();
        var newNames = nb > 0 ? outputs[0].Keys.ToList() : new List<string>();
        int ci = 0;
        foreach (var kv in Features)
        {
            var col = _columns[ci++];
            if (remove.Contains(kv.Key) && !newNames.Contains(kv.Key)) continue;
            if (newNames.Contains(kv.Key)) continue;
            features.Add(kv.Key, kv.Value);
            cols.Add(col);
        }
        foreach (var name in newNames)
        {
            var parts = new List<Column>(nb);
            for (int b = 0; b < nb; b++)
            {
                if (!outputs[b].TryGetValue(name, out var list)) throw FinetuneException.Invalid($"map returned column '{name}' for the first batch but not for batch {b}.");
                parts.Add(Column.FromList(name, list));
            }
            var col = Column.Concat(parts);
            FeatureType type = Features.TryGet(name, out var old) && old is ClassLabel && col.DType is DType.Int32 or DType.Int64
                ? old : FeatureType.Of(col.DType);
            if (type is ClassLabel) col = ColumnCast.To(col, type, name);
            features.Add(name, type);
            cols.Add(col);
        }
        if (nb == 0)
        {
            // Empty input: keep the columns that were not removed.
            return With(features, cols, "map-empty");
        }
        return With(features, cols, "map:" + (options.Fingerprint ?? Guid.NewGuid().ToString("N")) + ":" + bs + ":" + string.Join(",", remove));
    }

    /// <summary>Parallel.For that rethrows the user's own exception (the first one) instead of an AggregateException.</summary>
    private static void RunParallel(int count, ParallelOptions po, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, po, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    /// <summary>Unbatched map: <paramref name="fn"/> gets one row and returns that row's new columns.</summary>
    public Dataset MapRows(Func<IReadOnlyDictionary<string, object?>, IReadOnlyDictionary<string, object?>> fn, MapOptions? options = null) =>
        Map(batch =>
        {
            var results = new IReadOnlyDictionary<string, object?>[batch.NumRows];
            for (int i = 0; i < results.Length; i++) results[i] = fn(batch.Row(i));
            var outCols = new Dictionary<string, IList>();
            if (results.Length == 0) return outCols;
            foreach (var key in results[0].Keys)
            {
                object? sample = results.Select(r => r.TryGetValue(key, out var v) ? v : null).FirstOrDefault(v => v != null);
                IList list = sample switch
                {
                    string => new string?[results.Length],
                    int => new int[results.Length],
                    long => new long[results.Length],
                    float => new float[results.Length],
                    double => new double[results.Length],
                    bool => new bool[results.Length],
                    _ => new int[]?[results.Length],
                };
                for (int i = 0; i < results.Length; i++)
                {
                    object? v = results[i].TryGetValue(key, out var x) ? x : null;
                    if (list is int[]?[] lists) lists[i] = v is IEnumerable<int> e ? e.ToArray() : null;
                    else if (v != null) list[i] = v;
                }
                outCols[key] = list;
            }
            return outCols;
        }, options);

    internal Dataset SliceRows(int start, int count)
    {
        var cols = new Column[_columns.Length];
        for (int c = 0; c < cols.Length; c++) cols[c] = _columns[c].Slice(start, count);
        return new Dataset(Features.Clone(), cols, Fingerprint + "[" + start + ":" + (start + count) + "]");
    }

    public Dataset RemoveColumns(params string[] names)
    {
        foreach (var n in names) GetColumn(n);
        var keep = Features.Names.Where(n => !names.Contains(n)).ToArray();
        return SelectColumns(keep);
    }

    public Dataset SelectColumns(params string[] names)
    {
        var f = new Features();
        var cols = new List<Column>();
        foreach (var n in names)
        {
            f.Add(n, Features[n]);
            cols.Add(GetColumn(n));
        }
        return With(f, cols, "select_columns:" + string.Join(",", names));
    }

    public Dataset RenameColumn(string from, string to) => RenameColumns(new Dictionary<string, string> { [from] = to });

    public Dataset RenameColumns(IReadOnlyDictionary<string, string> mapping)
    {
        foreach (var k in mapping.Keys) GetColumn(k);
        var f = new Features();
        foreach (var kv in Features) f.Add(mapping.TryGetValue(kv.Key, out var to) ? to : kv.Key, kv.Value);
        return With(f, _columns, "rename:" + string.Join(",", mapping.Select(kv => kv.Key + ">" + kv.Value)));
    }

    /// <summary>Converts a column to <paramref name="type"/> (HF `cast_column`).</summary>
    public Dataset CastColumn(string name, FeatureType type)
    {
        int i = Features.IndexOf(name);
        var col = ColumnCast.To(GetColumn(name), type, name);
        var f = Features.Clone();
        f[name] = type;
        var cols = _columns.ToArray();
        cols[i] = col;
        return With(f, cols, "cast:" + name + ":" + type);
    }

    /// <summary>
    /// Turns a column into a ClassLabel whose names are its distinct values as text, sorted (HF
    /// `class_encode_column`, which sorts `str(value)`; numbers are named as Python prints them).
    /// </summary>
    public Dataset ClassEncodeColumn(string name)
    {
        var col = GetColumn(name);
        if (Features[name] is ClassLabel) return this;
        var text = new string?[col.Length];
        for (int i = 0; i < text.Length; i++) text[i] = col.IsNull(i) ? null : PyStr(col.GetValue(i)!);
        var names = text.Where(t => t != null).Distinct().Order(StringComparer.Ordinal).ToArray();
        var cl = new ClassLabel(names!);
        var v = new long[col.Length];
        var nulls = new bool[col.Length];
        for (int i = 0; i < v.Length; i++)
        {
            if (text[i] == null) nulls[i] = true;
            else v[i] = cl.Str2Int(text[i]!);
        }
        int ci = Features.IndexOf(name);
        var f = Features.Clone();
        f[name] = cl;
        var cols = _columns.ToArray();
        cols[ci] = Column.Int64s(v, nulls);
        return With(f, cols, "class_encode:" + name);
    }

    private static string PyStr(object v) => v switch
    {
        bool b => b ? "True" : "False",
        double d when double.IsFinite(d) && d == Math.Floor(d) && Math.Abs(d) < 1e16 => d.ToString("F1", CultureInfo.InvariantCulture),
        float f when float.IsFinite(f) && f == MathF.Floor(f) && MathF.Abs(f) < 1e16f => ((double)f).ToString("F1", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => ((double)f).ToString("R", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture)!,
    };

    /// <summary>Rows of all datasets one after another (HF `concatenate_datasets`); features must agree.</summary>
    public static Dataset Concatenate(params Dataset[] datasets)
    {
        if (datasets.Length == 0) throw new ArgumentException("nothing to concatenate");
        var first = datasets[0];
        foreach (var d in datasets.Skip(1))
        {
            if (!d.Features.Names.SequenceEqual(first.Features.Names))
                throw FinetuneException.Invalid($"Cannot concatenate datasets with different columns: [{string.Join(", ", first.Features.Names)}] and [{string.Join(", ", d.Features.Names)}].");
            foreach (var kv in first.Features)
            {
                if (d.Features[kv.Key].TypeName != kv.Value.TypeName)
                    throw FinetuneException.Invalid($"Cannot concatenate: column '{kv.Key}' is {kv.Value} in one dataset and {d.Features[kv.Key]} in another.");
            }
        }
        var cols = new Column[first._columns.Length];
        for (int c = 0; c < cols.Length; c++) cols[c] = Column.Concat(datasets.Select(d => d._columns[c]).ToArray());
        return new Dataset(first.Features.Clone(), cols, Hash(datasets.Select(d => d.Fingerprint).Prepend("concat").ToArray()))
        {
            SourceFiles = datasets.SelectMany(d => d.SourceFiles).Distinct().ToArray(),
        };
    }

    /// <summary>
    /// Splits into "train" and "test" like HF `train_test_split`: the test size is ceil(fraction·n) (or a count),
    /// rows drawn from `np.random.default_rng(seed)`; with <paramref name="stratifyByColumn"/> each class keeps its
    /// proportion (HF's stratified shuffle split).
    /// </summary>
    public DatasetDict TrainTestSplit(double testSize = 0.25, ulong seed = 0, string? stratifyByColumn = null, double? trainSize = null, bool shuffle = true)
    {
        int n = NumRows;
        int nTest = testSize >= 1 ? (int)testSize : (int)Math.Ceiling(testSize * n);
        int nTrain = trainSize is double ts ? (ts >= 1 ? (int)ts : (int)Math.Floor(ts * n)) : n - nTest;
        if (nTest <= 0 || nTrain <= 0 || nTest + nTrain > n)
            throw FinetuneException.Invalid($"train_test_split of {n} rows with test_size={testSize} leaves an empty split.");
        int[] trainIdx, testIdx;
        if (stratifyByColumn != null)
        {
            if (Features[stratifyByColumn] is not ClassLabel)
                throw FinetuneException.Invalid($"Stratifying requires a ClassLabel column, but '{stratifyByColumn}' is {Features[stratifyByColumn]}; call ClassEncodeColumn first.");
            (trainIdx, testIdx) = StratifiedSplit.Indices(GetInts(stratifyByColumn), nTrain, nTest, new NumpyRandom(seed));
        }
        else if (shuffle)
        {
            int[] perm = new NumpyRandom(seed).Permutation(n);
            testIdx = perm[..nTest];
            trainIdx = perm[nTest..(nTest + nTrain)];
        }
        else
        {
            trainIdx = Enumerable.Range(0, nTrain).ToArray();
            testIdx = Enumerable.Range(nTrain, nTest).ToArray();
        }
        return new DatasetDict { ["train"] = Select(trainIdx), ["test"] = Select(testIdx) };
    }
}
