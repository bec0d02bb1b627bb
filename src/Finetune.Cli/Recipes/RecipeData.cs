using System.Globalization;
using Finetune.Data;
using Finetune.Data.Loading;

namespace Finetune.Cli.Recipes;

/// <summary>The splits a recipe trains on, evaluates during training and reports on, with the class names.</summary>
public sealed class RecipeSplits
{
    /// <summary>Null only when evaluating as-is on a dataset without a training split.</summary>
    public required Dataset? Train { get; init; }
    public required Dataset? Eval { get; init; }
    public required string? EvalName { get; init; }
    public required Dataset Test { get; init; }
    public required string TestName { get; init; }
    /// <summary>A split without labels (GLUE's test splits) that is predicted instead of scored, or null.</summary>
    public Dataset? Predict { get; init; }
    public string? PredictName { get; init; }
    /// <summary>Class names in id order (config.json's id2label).</summary>
    public required string[] LabelNames { get; init; }
}

/// <summary>
/// Loads a recipe's dataset and shapes it as the tutorials do: split strings as `datasets` reads them
/// (`train[:80%]`, `train+validation`), a text label column class-encoded like `class_encode_column` (sorted
/// names, or <see cref="RecipeOptions.LabelNames"/> in that order), a validation part cut off the training split
/// (transformers' `validation_split_percentage`), and a test part split off with `train_test_split`.
/// </summary>
public static class RecipeData
{
    public static RecipeSplits Prepare(RecipeOptions o, Action<string>? warning = null)
    {
        var dict = LoadDataset.Load(o.Dataset, o.DatasetConfig, new LoadOptions { DataRoot = o.DataRoot, Warning = warning });
        var args = o.Args;
        Dataset? train = Pick(dict, o.TrainSplit);
        Dataset? eval = Pick(dict, o.EvalSplit);
        string? evalName = eval != null ? o.EvalSplit : null;
        if (train == null && !(o.ZeroShot && o.TestSize == null && o.ValidationSplitPercentage == null))
            throw FinetuneException.Missing($"Dataset '{o.Dataset}' has no '{o.TrainSplit}' split (it has {string.Join(", ", dict.Keys)}).");

        if (o.ValidationSplitPercentage is int pct && eval == null && train != null)
        {
            var whole = new DatasetDict { ["train"] = train };
            eval = SplitSpec.Resolve(whole, $"train[:{pct}%]");
            train = SplitSpec.Resolve(whole, $"train[{pct}%:]");
            evalName = "validation";
        }

        string[] names = LabelNames(o, train ?? Pick(dict, o.TestSplit) ?? eval
            ?? throw FinetuneException.Missing($"Dataset '{o.Dataset}' has no split to evaluate on (it has {string.Join(", ", dict.Keys)})."));
        train = Encode(train, o, names, o.TrainSplit);
        eval = Encode(eval, o, names, evalName ?? o.EvalSplit);

        Dataset? test;
        string testName;
        if (o.TestSize is double size)
        {
            // The tutorials' dataset.train_test_split(test_size, seed, stratify_by_column): the same rows as datasets.
            var parts = train!.TrainTestSplit(size, (ulong)args.Seed, o.StratifyByColumn);
            train = parts["train"];
            test = parts["test"];
            testName = "test";
        }
        else
        {
            test = Encode(Pick(dict, o.TestSplit), o, names, o.TestSplit);
            testName = o.TestSplit;
        }
        // A split without labels (GLUE test splits hold -1) is predicted, not scored, as run_glue.py does; the final
        // report then uses the validation split.
        Dataset? predict = null;
        string? predictName = null;
        if (test != null && eval != null && testName != evalName && Unlabelled(test, o.LabelColumn))
        {
            (predict, predictName) = (test, testName);
            (test, testName) = (eval, evalName!);
        }
        if (test == null)
        {
            test = eval ?? throw FinetuneException.Missing($"Dataset '{o.Dataset}' has neither a '{o.TestSplit}' nor a '{o.EvalSplit}' split to evaluate on (it has {string.Join(", ", dict.Keys)}); pass --test-size to split one off.");
            testName = evalName!;
        }
        return new RecipeSplits { Train = train, Eval = eval, EvalName = evalName, Test = test, TestName = testName, Predict = predict, PredictName = predictName, LabelNames = names };
    }

    private static bool Unlabelled(Dataset ds, string column)
    {
        if (!ds.ColumnNames.Contains(column)) return true;
        if (ds.GetColumn(column).DType is not (DType.Int32 or DType.Int64)) return false;
        foreach (int l in ds.GetInts(column))
            if (l >= 0) return false;
        return ds.NumRows > 0;
    }


    /// <summary>A split by name or `datasets` split string; null when a plain name is absent.</summary>
    private static Dataset? Pick(DatasetDict dict, string spec) =>
        spec.IndexOfAny(['[', '+']) >= 0 ? SplitSpec.Resolve(dict, spec) : dict.ContainsKey(spec) ? dict[spec] : null;

    private static string[] LabelNames(RecipeOptions o, Dataset ds)
    {
        string column = o.LabelColumn;
        if (!ds.ColumnNames.Contains(column))
            throw FinetuneException.Missing($"Dataset '{o.Dataset}' has no label column '{column}' (columns: {string.Join(", ", ds.ColumnNames)}); pass --label-column.");
        if (o.LabelNames is { } given)
        {
            if (given.Length == 0 || given.Any(string.IsNullOrEmpty) || given.Distinct(StringComparer.Ordinal).Count() != given.Length)
                throw FinetuneException.Invalid($"--label-names '{string.Join(",", given)}' must list distinct, non-empty names.");
            return given;
        }
        if (ds.Features[column] is ClassLabel cl) return cl.Names.ToArray();
        var col = ds.GetColumn(column);
        if (col.DType is DType.Int32 or DType.Int64)
        {
            int max = ds.NumRows == 0 ? -1 : ds.GetInts(column).Max();
            return Enumerable.Range(0, max + 1).Select(i => "LABEL_" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        }
        if (col.DType is DType.String or DType.Bool)
            return ((ClassLabel)ds.ClassEncodeColumn(column).Features[column]).Names.ToArray();
        throw FinetuneException.Invalid($"Label column '{column}' of dataset '{o.Dataset}' holds {col.DType} values; classification needs class names, integer class ids or a ClassLabel.");
    }

    /// <summary>
    /// The split with its label column as ids of <paramref name="names"/>: text labels looked up by name, a
    /// ClassLabel with other names remapped by name; an unknown label names the split, file, row and value.
    /// </summary>
    private static Dataset? Encode(Dataset? ds, RecipeOptions o, string[] names, string split)
    {
        string column = o.LabelColumn;
        if (ds == null || !ds.ColumnNames.Contains(column)) return ds;
        var col = ds.GetColumn(column);
        string?[]? text = null;
        if (ds.Features[column] is ClassLabel cl)
        {
            if (cl.Names.SequenceEqual(names)) return ds;
            int[] ids = ds.GetInts(column);
            text = new string?[ids.Length];
            for (int i = 0; i < ids.Length; i++) text[i] = col.IsNull(i) ? null : cl.Int2Str(ids[i]);
        }
        else if (col.DType is DType.String) text = ds.GetStrings(column);
        else if (col.DType is DType.Bool)
        {
            text = new string?[col.Length];
            for (int i = 0; i < text.Length; i++) text[i] = col.IsNull(i) ? null : (bool)col.GetValue(i)! ? "True" : "False";
        }
        if (text == null) return ds; // integer class ids are checked against the classes when tokenized
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < names.Length; k++) index[names[k]] = k;
        var ids2 = new long[text.Length];
        string files = ds.SourceFiles.Count > 0 ? $" ({string.Join(", ", ds.SourceFiles)})" : "";
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] is not string t)
                throw FinetuneException.Invalid($"Split '{split}'{files} row {i}: the label column '{column}' is empty.");
            if (!index.TryGetValue(t, out int id))
                throw FinetuneException.Invalid($"Split '{split}'{files} row {i}: label '{t}' is not one of the classes ({string.Join(", ", names)}){(o.LabelNames == null ? "; pass --label-names with every class" : "")}.");
            ids2[i] = id;
        }
        var features = ds.Features.Clone();
        features[column] = new ClassLabel(names);
        var columns = ds.ColumnNames.Select(n => n == column ? Column.Int64s(ids2) : ds.GetColumn(n)).ToArray();
        return new Dataset(features, columns, ds.Fingerprint + ":labels:" + string.Join(",", names)) { SourceFiles = ds.SourceFiles };
    }
}
