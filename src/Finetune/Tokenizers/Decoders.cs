using System.Text;

namespace Finetune.Tokenizers;

/// <summary>Turns tokens back into text, as the Rust library's decoders (each step maps the token list).</summary>
internal abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);
}

internal sealed class SequenceDecoder(IReadOnlyList<Decoder> steps) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var s in steps) tokens = s.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>WordPiece: "##" continuations glue to the previous token, others get a space; optional cleanup of spaces before punctuation.</summary>
internal sealed class WordPieceDecoder(string prefix, bool cleanup) : Decoder
{
    public string Prefix { get; } = prefix;
    public bool Cleanup { get; } = cleanup;

    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i];
            if (i != 0)
            {
                if (t.StartsWith(Prefix, StringComparison.Ordinal)) t = t[Prefix.Length..];
                else t = " " + t;
            }
            if (Cleanup) t = CleanupText(t);
            r.Add(t);
        }
        return r;
    }

    /// <summary>The clean_up_tokenization of transformers: no space before . ? ! , and common English contractions.</summary>
    public static string CleanupText(string s) => s.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",")
        .Replace(" ' ", "'").Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" do not", " don't").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");
}

/// <summary>ByteLevel: every character maps back to its byte; the bytes are decoded as UTF-8 (invalid → U+FFFD).</summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens)
        {
            foreach (char c in t)
            {
                if (ByteLevelPreTokenizer.CharToByte.TryGetValue(c, out byte b)) bytes.Add(b);
                else bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(c.ToString()));
            }
        }
        return [System.Text.Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

/// <summary>Metaspace: ▁ becomes a space, except in the first token, where ▁ is dropped (unless prepend_scheme is never).</summary>
internal sealed class MetaspaceDecoder(char replacement, string prependScheme) : Decoder
{
    public char Replacement { get; } = replacement;
    public string PrependScheme { get; } = prependScheme;

    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            r.Add(i == 0 && PrependScheme != "never" ? tokens[i].Replace(Replacement.ToString(), "") : tokens[i].Replace(Replacement, ' '));
        }
        return r;
    }
}

/// <summary>BPEDecoder: the end-of-word suffix becomes a space (none after the last token).</summary>
internal sealed class BpeDecoder(string suffix) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++) r.Add(tokens[i].Replace(suffix, i == tokens.Count - 1 ? "" : " "));
        return r;
    }
}

internal sealed class ReplaceDecoder(string pattern, string content) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(t => t.Replace(pattern, content)).ToList();
}

/// <summary>ByteFallback: runs of &lt;0xXX&gt; tokens become the UTF-8 text they encode (invalid → one U+FFFD per byte).</summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var r = new List<string>();
        var pending = new List<byte>();
        void Flush()
        {
            if (pending.Count == 0) return;
            try { r.Add(new UTF8Encoding(false, true).GetString(pending.ToArray())); }
            catch (DecoderFallbackException) { foreach (var _ in pending) r.Add("\uFFFD"); }
            pending.Clear();
        }
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b)) pending.Add(b);
            else { Flush(); r.Add(t); }
        }
        Flush();
        return r;
    }
}

internal sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

internal sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(t =>
    {
        int s = 0, e = t.Length;
        for (int k = 0; k < start && s < e && t[s] == content; k++) s++;
        for (int k = 0; k < stop && e > s && t[e - 1] == content; k++) e--;
        return t[s..e];
    }).ToList();
}
