using System.Text.Json;

namespace Finetune.Data;

/// <summary>Reads a JSON Lines file one object per non-blank line, with errors that name the file and line.</summary>
public static class JsonLines
{
    /// <summary>
    /// Parses every non-blank line of <paramref name="path"/> and maps it with <paramref name="parseRow"/> (the
    /// element and its 1-based line number). Malformed JSON, or a row the mapper rejects with a FormatException or
    /// InvalidOperationException, becomes an InvalidInput error "'path' line N<paramref name="problem"/>: reason".
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="what">What the file is, for the not-found message ("dataset file", "input file").</param>
    /// <param name="parseRow">Maps one line's JSON value to a row.</param>
    /// <param name="problem">Inserted after the line number in error messages (e.g. " is not a valid tokenized row").</param>
    public static List<T> Read<T>(string path, string what, Func<JsonElement, int, T> parseRow, string problem = "")
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"The {what} '{path}' does not exist.");
        var rows = new List<T>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = SafeJson.ParseDocument(line, path, firstLine: lineNo);
                rows.Add(parseRow(doc.RootElement, lineNo));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw FinetuneException.Invalid($"'{path}' line {lineNo}{problem}: {e.Message.TrimEnd('.')}.", e);
            }
        }
        return rows;
    }
}
