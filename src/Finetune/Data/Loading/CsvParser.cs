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
                while (true)
                {
                    if (_pos >= text.Length)
                        return $"{_path}:{openLine}:{openCol}: unterminated quoted field (the quote opened here is never closed).";
                    char c = text[_pos];
                    if (c == '"')
                    {
                        if (_pos + 1 < text.Length && text[_pos + 1] == '"') { sb.Append('"'); _pos += 2; continue; }
                        _pos++;
                        break;
                    }
                    if (c == '\n' || (c == '\r' && !(_pos + 1 < text.Length && text[_pos + 1] == '\n'))) { sb.Append(c); _pos++; NewLine(_pos); continue; }
                    sb.Append(c);
                    _pos++;
                }
                fields.Add(sb.ToString());
                if (_pos >= text.Length) return null;
                char next = text[_pos];
                if (next == _delimiter) { _pos++; continue; }
                if (next == '\r' || next == '\n') { EndLine(); return null; }
                return $"{Where(_pos)}: unexpected character '{next}' after a closing quote (expected the delimiter or the end of the line).";
            }
            int start = _pos;
            while (_pos < text.Length)
            {
                char c = text[_pos];
                if (c == _delimiter || c == '\n' || c == '\r') break;
                _pos++;
            }
            fields.Add(text.Substring(start, _pos - start));
            if (_pos >= text.Length) return null;
            if (text[_pos] == _delimiter) { _pos++; continue; }
            EndLine();
            return null;
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
