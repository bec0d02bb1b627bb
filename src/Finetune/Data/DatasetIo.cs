using System.Globalization;
using System.Text;
using Finetune.Data.Loading;

namespace Finetune.Data;

public sealed partial class Dataset
{
    /// <summary>Loads one data file (csv, tsv, json, jsonl, parquet, txt, optionally .gz), like HF `Dataset.from_csv`/`from_json`.</summary>
    public static Dataset FromFile(string path, LoadOptions? options = null) => LoadDataset.LoadFile(path, options);

    /// <summary>
    /// HF `save_to_disk`: a folder Python's `load_from_disk` reads (and <see cref="LoadFromDisk"/>): one Arrow IPC
    /// stream shard with the features in its schema, state.json and dataset_info.json.
    /// </summary>
    public void SaveToDisk(string path) => SavedToDisk.Save(this, path, null);

    /// <summary>HF `load_from_disk` for a Dataset folder (a DatasetDict folder: <see cref="LoadDataset.LoadFromDisk"/>).</summary>
    public static Dataset LoadFromDisk(string path) => SavedToDisk.Load(path, out _);

    /// <summary>Writes a CSV with a header (pandas `to_csv(index=False)` quoting: only fields that need it).</summary>
    public void ToCsv(string path, char delimiter = ',') => AtomicFile.Write(path, s => WriteCsv(s, delimiter));

    /// <summary>
    /// Writes Parquet with the `huggingface` features metadata (HF `to_parquet`): Snappy pages, nullable columns,
    /// lists of int as LIST, ClassLabel names kept.
    /// </summary>
    public void ToParquet(string path) => AtomicFile.Write(path, s => Parquet.ParquetWriter.Write(this, s));

    /// <summary>Writes JSON Lines, one object per row (HF `to_json`, lines=True).</summary>
    public void ToJsonl(string path) => AtomicFile.Write(path, s => JsonLoader.Write(this, s));

    private void WriteCsv(Stream s, char delimiter)
    {
        using var w = new StreamWriter(s, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        var names = ColumnNames;
        w.Write(string.Join(delimiter, names.Select(n => Quote(n, delimiter))));
        w.Write('\n');
        var cols = names.Select(GetColumn).ToArray();
        var sb = new StringBuilder();
        for (int r = 0; r < NumRows; r++)
        {
            sb.Clear();
            for (int c = 0; c < cols.Length; c++)
            {
                if (c > 0) sb.Append(delimiter);
                sb.Append(cols[c].GetValue(r) switch
                {
                    null => "",
                    string x => Quote(x, delimiter),
                    float x => x.ToString("R", CultureInfo.InvariantCulture),
                    double x => x.ToString("R", CultureInfo.InvariantCulture),
                    bool x => x ? "True" : "False",
                    int[] x => Quote("[" + string.Join(", ", x) + "]", delimiter),
                    var x => Convert.ToString(x, CultureInfo.InvariantCulture),
                });
            }
            sb.Append('\n');
            w.Write(sb);
        }
    }

    private static string Quote(string s, char delimiter) =>
        s.IndexOfAny([delimiter, '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
