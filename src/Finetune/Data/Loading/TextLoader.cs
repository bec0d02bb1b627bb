namespace Finetune.Data.Loading;

/// <summary>HF's "text" builder: one row per line, in a "text" column (line endings removed).</summary>
internal static class TextLoader
{
    public static Dataset Load(string path, LoadOptions o)
    {
        string text = TextSource.Decode(TextSource.ReadBytes(path), path, o.Encoding);
        var lines = new List<string>();
        using (var reader = new StringReader(text))
        {
            for (string? l = reader.ReadLine(); l != null; l = reader.ReadLine()) lines.Add(l);
        }
        var f = new Features { { "text", Value.String } };
        return new Dataset(f, new Column[] { Column.Strings(lines.ToArray()) }, FileFingerprint.Of(path)) { SourceFiles = new[] { Path.GetFullPath(path) } };
    }
}
