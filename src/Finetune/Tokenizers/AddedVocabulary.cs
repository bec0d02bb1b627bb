using System.Buffers;

namespace Finetune.Tokenizers;

/// <summary>A token matched in the raw text before normalization (special tokens and user-added tokens).</summary>
public sealed record AddedToken(string Content, int Id, bool Special = true, bool LStrip = false, bool RStrip = false, bool SingleWord = false, bool Normalized = false);

/// <summary>
/// Finds added tokens in raw text: leftmost, then longest match; lstrip/rstrip absorb neighbouring whitespace;
/// single_word requires non-word characters (or the text's ends) on both sides.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar = new();

    // The first characters of the tokens: the text is scanned for them with a vectorised search, not character by
    // character through the dictionary.
    private readonly SearchValues<char> _firstChars;

    public AddedVocabulary(IEnumerable<AddedToken> tokens)
    {
        Tokens = tokens.Where(t => t.Content.Length > 0).ToList();
        foreach (var g in Tokens.GroupBy(t => t.Content[0]))
            _byFirstChar[g.Key] = g.OrderByDescending(t => t.Content.Length).ToArray();
        _firstChars = SearchValues.Create(_byFirstChar.Keys.ToArray());
    }

    public IReadOnlyList<AddedToken> Tokens { get; }

    public bool IsEmpty => Tokens.Count == 0;

    /// <summary>Appends (start, end, token) for each match in <paramref name="text"/>, in order; end-exclusive, strip included.</summary>
    public void Find(string text, List<(int Start, int End, AddedToken Token)> matches)
    {
        if (_byFirstChar.Count == 0) return;
        int lastEnd = 0;
        for (int i = 0; i < text.Length; i++)
        {
            int skip = text.AsSpan(i).IndexOfAny(_firstChars);
            if (skip < 0) break;
            i += skip;
            var candidates = _byFirstChar[text[i]];
            foreach (var t in candidates)
            {
                if (string.CompareOrdinal(text, i, t.Content, 0, t.Content.Length) != 0) continue;
                int end = i + t.Content.Length;
                if (t.SingleWord && ((i > 0 && IsWordChar(text[i - 1])) || (end < text.Length && IsWordChar(text[end])))) continue;
                int s = i, e = end;
                if (t.LStrip) while (s > lastEnd && char.IsWhiteSpace(text[s - 1])) s--;
                if (t.RStrip) while (e < text.Length && char.IsWhiteSpace(text[e])) e++;
                matches.Add((s, e, t));
                lastEnd = e;
                i = e - 1;
                break;
            }
        }
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
