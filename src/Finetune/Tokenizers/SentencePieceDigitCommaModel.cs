namespace Finetune.Tokenizers;

/// <summary>
/// The slow AlbertTokenizer's digit-comma rule on top of SentencePiece Unigram: a piece ending in "&lt;digit&gt;,"
/// is re-encoded without the comma (and without ▁), a leading ▁ dropped when the original piece had none, and
/// "," appended as its own piece. Ids come from the piece strings, as PieceToId does.
/// </summary>
internal sealed class SentencePieceDigitCommaModel(UnigramModel inner, SentencePieceNormalizer normalizer) : TokenizerModel(inner.IdToTokenTable)
{
    private const char Space = '\u2581';

    public UnigramModel Inner { get; } = inner;

    [ThreadStatic] private static List<RawToken>? _pieces;
    [ThreadStatic] private static List<RawToken>? _sub;
    [ThreadStatic] private static NormalizedText? _text;
    [ThreadStatic] private static char[]? _buf;

    public override void Tokenize(ReadOnlySpan<char> word, List<RawToken> output)
    {
        var pieces = _pieces ??= new List<RawToken>();
        pieces.Clear();
        Inner.Tokenize(word, pieces);
        foreach (var p in pieces)
        {
            var surface = word[p.Start..p.End];
            if (!EndsWithDigitComma(surface))
            {
                // PieceToId of the surface string: an unknown stretch stays unknown.
                output.Add(p);
                continue;
            }
            var body = surface[..^1];
            var text = _text ??= new NormalizedText();
            var buf = body.Length <= 256 ? (_buf ??= new char[256]).AsSpan(0, body.Length) : new char[body.Length];
            int n = 0;
            foreach (char c in body) if (c != Space) buf[n++] = c;
            text.Reset(buf[..n], 0, n);
            normalizer.Normalize(text);
            var sub = _sub ??= new List<RawToken>();
            sub.Clear();
            Inner.Tokenize(text.Text, sub);
            int first = 0;
            if (surface[0] != Space && sub.Count > 0 && text.Text[sub[0].Start] == Space)
            {
                if (sub[0].End - sub[0].Start == 1) first = 1;
                else
                {
                    var rest = text.Text[(sub[0].Start + 1)..sub[0].End];
                    output.Add(new RawToken(PieceId(rest), p.Start, p.End - 1));
                    first = 1;
                }
            }
            for (int k = first; k < sub.Count; k++) output.Add(new RawToken(sub[k].Id, p.Start, p.End - 1));
            output.Add(new RawToken(PieceId(","), p.End - 1, p.End));
        }
    }

    private int PieceId(ReadOnlySpan<char> piece) => Lookup.TryGetValue(piece, out int id) && IsNormalPiece(id) ? id : Inner.UnkId;

    private bool IsNormalPiece(int id) => Inner.Types == null || Inner.Types[id] is 1 or 4 or 6 or 3;

    private static bool EndsWithDigitComma(ReadOnlySpan<char> s)
    {
        if (s.Length < 2 || s[^1] != ',') return false;
        int cp = NormalizedText.CodePointAt(s, char.IsLowSurrogate(s[^2]) && s.Length >= 3 ? s.Length - 3 : s.Length - 2, out _);
        return Unicode.UnicodeTables.Category(cp) == System.Globalization.UnicodeCategory.DecimalDigitNumber;
    }
}
