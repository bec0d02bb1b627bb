namespace Finetune.Data;

/// <summary>Arguments of <see cref="LoadDataset.Load"/>, after HF `load_dataset`'s keyword arguments.</summary>
public sealed class LoadOptions
{
    /// <summary>Files per split (HF `data_files`): paths or globs (`*`, `?`, `**`). A plain list means "train".</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? DataFiles { get; init; }

    /// <summary>Where known datasets' files live; default env FINETUNE_DATASETS, else ../shared/datasets beside the repo.</summary>
    public string? DataRoot { get; init; }

    /// <summary>"csv", "tsv", "json", "jsonl" or "parquet"; default from the file extension.</summary>
    public string? Format { get; init; }

    /// <summary>Field separator for csv; default ',' (and '\t' for .tsv files).</summary>
    public char? Delimiter { get; init; }

    /// <summary>Whether '"' quotes fields; default on for CSV, off for TSV (GLUE's files use QUOTE_NONE).</summary>
    public bool? Quoting { get; init; }

    /// <summary>False when the first line is data; then <see cref="ColumnNames"/> names the columns.</summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>Column names to use (replacing the header when there is one).</summary>
    public IReadOnlyList<string>? ColumnNames { get; init; }

    /// <summary>Text encoding: utf-8 (default, strict), latin-1, cp1252, utf-16.</summary>
    public string? Encoding { get; init; }

    /// <summary>Declared column types; other columns are inferred (ints, floats, bools, strings).</summary>
    public Features? Features { get; init; }

    /// <summary>Skip malformed rows instead of failing; each is counted and reported through <see cref="Warning"/>.</summary>
    public bool SkipBadRows { get; init; }

    /// <summary>Receives warnings (skipped rows); default <see cref="FinetuneLog"/>.</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>Branch, tag or commit of a Hub dataset (default "main"), as load_dataset's revision.</summary>
    public string? Revision { get; init; }

    internal void Warn(string message) => (Warning ?? (m => FinetuneLog.Write("warning: " + m)))(message);
}
