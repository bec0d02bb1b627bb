namespace Finetune.Data.Loading;

/// <summary>Loads one CSV/TSV file into a <see cref="Dataset"/>.</summary>
internal static class TabularLoader
{
    public static Dataset Load(string path, LoadOptions o, bool tsv)
    {
        string text = TextSource.Decode(TextSource.ReadBytes(path), path, o.Encoding);
        char delimiter = o.Delimiter ?? (tsv ? '\t' : ',');
        bool quoting = o.Quoting ?? !tsv;
        var bad = new List<string>();
        var parser = new CsvParser(text, path, delimiter, quoting, o.SkipBadRows ? bad.Add : null);
        string[]? names = o.ColumnNames?.ToArray();
        var rows = new List<string[]>();
        var lines = new List<int>();
        bool headerPending = o.HasHeader;
        foreach (var rec in parser.Records())
        {
            if (headerPending)
            {
                headerPending = false;
                if (names == null) names = rec.Fields;
                else if (names.Length != rec.Fields.Length)
                    throw FinetuneException.Invalid($"{path}:{rec.Line}: the header has {rec.Fields.Length} columns but {names.Length} column names were given.");
                continue;
            }
            if (names == null)
            {
                names = Enumerable.Range(0, rec.Fields.Length).Select(i => "column_" + i).ToArray();
            }
            if (rec.Fields.Length != names.Length)
            {
                string msg = $"{path}:{rec.Line}: expected {names.Length} fields ({string.Join(", ", names)}) but found {rec.Fields.Length}.";
                if (!o.SkipBadRows) throw FinetuneException.Invalid(msg);
                bad.Add(msg);
                continue;
            }
            if (o.Features != null && o.SkipBadRows && !RowFits(rec, names, o.Features, path, bad)) continue;
            rows.Add(rec.Fields);
            lines.Add(rec.Line);
        }
        if (names == null) throw FinetuneException.Invalid($"{path}: the file is empty (no header and no rows).");
        var dupe = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (dupe != null) throw FinetuneException.Invalid($"{path}: column '{dupe.Key}' appears twice in the header.");
        if (bad.Count > 0) o.Warn($"skipped {bad.Count} bad row(s) in {path}; first: {bad[0]}");
        return Build(path, names, rows, lines, o.Features);
    }

    private static bool RowFits(CsvRecord rec, string[] names, Features features, string path, List<string> bad)
    {
        for (int c = 0; c < names.Length; c++)
        {
            if (features.TryGet(names[c], out var type) && !ValueParsing.Fits(rec.Fields[c], type))
            {
                bad.Add($"{path}:{rec.Line}:{c + 1}: column '{names[c]}' value '{rec.Fields[c]}' does not fit {type}.");
                return false;
            }
        }
        return true;
    }

    internal static Dataset Build(string path, string[] names, List<string[]> rows, List<int> lines, Features? declared)
    {
        var features = new Features();
        var cols = new List<Column>();
        for (int c = 0; c < names.Length; c++)
        {
            var cells = new string[rows.Count];
            for (int r = 0; r < cells.Length; r++) cells[r] = rows[r][c];
            int field = c;
            string name = names[c];
            if (declared != null && declared.TryGet(name, out var type))
            {
                Column col;
                if (type.Storage == DType.String) col = Column.Strings(cells);
                else
                {
                    var withNulls = new string?[cells.Length];
                    for (int r = 0; r < cells.Length; r++) withNulls[r] = cells[r].Length == 0 ? null : cells[r];
                    col = ColumnCast.To(Column.Strings(withNulls), type, name, r => $"{path}:{lines[r]}:{field + 1}: column '{name}'");
                }
                features.Add(name, type);
                cols.Add(col);
            }
            else
            {
                var col = ValueParsing.Infer(cells);
                features.Add(name, FeatureType.Of(col.DType));
                cols.Add(col);
            }
        }
        return new Dataset(features, cols, FileFingerprint.Of(path)) { SourceFiles = new[] { Path.GetFullPath(path) } };
    }
}
