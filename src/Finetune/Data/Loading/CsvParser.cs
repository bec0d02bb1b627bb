using System.Text;

namespace Finetune.Data.Loading;

/// <summary>One parsed record and the 1-based line it starts on.</summary>
internal readonly record struct CsvRecord(string[] Fields, int Line);

/// <summary>
/// Delimited text: RFC 4180 quoting ("" escapes a quote, quoted fields may hold delimiters and newlines) or no
/// quoting at all (GLUE's TSV files, read with Python's QUOTE_NONE). Line endings LF, CRLF or CR. Blank lines are
/// skipped. A broken quote is an error naming file:line:column, or—when skipping bad rows—is counted and skipped.
/// </summary>
internal sealed class CsvParser
{
    private readonly string _text;
    private readonly string _path;
    private readonly char _delimiter;
    private readonly bool _quoting;
    private readonly Action<string>? _onBadRow;
    private readonly System.Buffers.SearchValues<char> _stops;
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    public CsvParser(string text, string path, char delimiter, bool quoting, Action<string>? onBadRow)
    {
        _text = text;
        _path = path;
        _delimiter = delimiter;
        _quoting = quoting;
        _onBadRow = onBadRow;
        _stops = System.Buffers.SearchValues.Create([delimiter, '\n', '\r']);
    }

    public IEnumerable<CsvRecord> Records()
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        while (_pos < _text.Length)
        {
            int startLine = _line;
            fields.Clear();
            string? error = ReadRecord(fields, sb);
            if (error != null)
            {
                if (_onBadRow == null) throw FinetuneException.Invalid(error);
                _onBadRow(error);
                SkipToLineEnd();
                continue;
            }
            if (fields.Count == 1 && fields[0].Length == 0) continue; // blank line
            yield return new CsvRecord(fields.ToArray(), startLine);
        }
    }

    private string Where(int pos) => $"{_path}:{_line}:{pos - _lineStart + 1}";

    private void NewLine(int nextPos)
    {
        _line++;
        _lineStart = nextPos;
    }

    /// <summary>Reads fields up to the end of the record; returns an error message or null.</summary>
    private string? ReadRecord(List<string> fields, StringBuilder sb)
    {
        string text = _text;
        while (true)
        {
            if (_quoting && _pos < text.Length && text[_pos] == '"')
            {
                int openLine = _line, openCol = _pos - _lineStart + 1;
                _pos++;
                sb.Clear();
                bool escaped = false;
                int contentStart = _pos;
                while (true)
                {
                    int q = text.IndexOf('"', _pos);
                    if (q < 0)
                        return $"{_path}:{openLine}:{openCol}: unterminated quoted field (the quote opened here is never closed).";
                    CountLines(_pos, q);
                    sb.Append(text, _pos, q - _pos);
                    if (q + 1 < text.Length && text[q + 1] == '"') { sb.Append('"'); escaped = true; _pos = q + 2; continue; }
                    _pos = q + 1;
                    break;
                }
                if (_pos - 1 - contentStart > InputLimits.MaxFieldChars) return TooLong(openLine, openCol);
                fields.Add(escaped ? sb.ToString() : text.Substring(contentStart, _pos - 1 - contentStart));
                if (fields.Count > InputLimits.MaxColumns) return TooWide(_line);
                if (_pos >= text.Length) return null;
                char next = text[_pos];
                if (next == _delimiter) { _pos++; continue; }
                if (next == '\r' || next == '\n') { EndLine(); return null; }
                return $"{Where(_pos)}: unexpected character '{next}' after a closing quote (expected the delimiter or the end of the line).";
            }
            int start = _pos;
            int stop = text.AsSpan(_pos).IndexOfAny(_stops);
            _pos = stop < 0 ? text.Length : _pos + stop;
            if (_pos - start > InputLimits.MaxFieldChars) return TooLong(_line, start - _lineStart + 1);
            fields.Add(text.Substring(start, _pos - start));
            if (fields.Count > InputLimits.MaxColumns) return TooWide(_line);
            if (_pos >= text.Length) return null;
            if (text[_pos] == _delimiter) { _pos++; continue; }
            EndLine();
            return null;
        }
    }

    private string TooLong(int line, int column) =>
        $"{_path}:{line}:{column}: the field holds more than {InputLimits.MaxFieldChars} characters (the field limit; set FINETUNE_MAX_FIELD_CHARS to raise it).";

    private string TooWide(int line) =>
        $"{_path}:{line}: the row has more than {InputLimits.MaxColumns} columns (the column limit; set FINETUNE_MAX_COLUMNS to raise it).";

    /// <summary>Advances the line counter over the newlines inside a quoted field (LF, CRLF or a lone CR).</summary>
    private void CountLines(int from, int to)
    {
        var span = _text.AsSpan(from, to - from);
        int at = 0;
        while (true)
        {
            int k = span[at..].IndexOfAny('\n', '\r');
            if (k < 0) return;
            int i = at + k;
            if (span[i] == '\r' && i + 1 < span.Length && span[i + 1] == '\n') i++;
            NewLine(from + i + 1);
            at = i + 1;
        }
    }

    private void EndLine()
    {
        if (_text[_pos] == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n') _pos++;
        _pos++;
        NewLine(_pos);
    }

    private void SkipToLineEnd()
    {
        while (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r') _pos++;
        if (_pos < _text.Length) EndLine();
    }
}
