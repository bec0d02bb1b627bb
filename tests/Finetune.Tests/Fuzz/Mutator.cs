using System.Text;
using System.Text.RegularExpressions;

namespace Finetune.Tests.Fuzz;

/// <summary>How a seed file is shaped, which decides the structural mutations that make sense for it.</summary>
internal enum Shape { Json, Lines, Binary, SafeTensors }

/// <summary>
/// Seeded mutations of a real file: structural ones that keep the file parseable but make its values hostile
/// (numbers at the edges of int32/int64, lone surrogates, repeated keys, deep nesting, wide rows, wrong types) and
/// random ones (flipped, inserted, deleted, duplicated bytes, truncation). The same seed gives the same case.
/// </summary>
internal static partial class Mutator
{
    private static readonly string[] HostileNumbers =
        ["0", "-1", "-2147483648", "2147483647", "2147483648", "4294967296", "9223372036854775807", "-9223372036854775809", "1e308", "-1e308", "1.5", "2000000000", "100000", "\"1\"", "null", "[]", "{}", "true"];

    private static readonly string[] HostileStrings =
        ["", "a\\ud800b", "\\udfff", "\\ud800\\ud800", "\\u0000", "\\\\", "é\\u0301", new string('x', 100_000), "[UNK]", "<unk>", " ", "##"];

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][-+]?\d+)?")]
    private static partial Regex NumberToken();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringToken();

    /// <summary>A mutated copy of <paramref name="original"/> and a short description of what was done.</summary>
    public static (byte[] Bytes, string What) Mutate(byte[] original, Shape shape, Random rng)
    {
        int structural = shape switch { Shape.Json => 7, Shape.Lines => 4, Shape.SafeTensors => 7, _ => 0 };
        int pick = rng.Next(structural + 6);
        if (pick >= structural) return Random(original, rng, pick - structural);
        if (shape == Shape.SafeTensors) return SafeTensorsHeader(original, rng, pick);
        string text = Encoding.UTF8.GetString(original);
        var (mutated, what) = shape == Shape.Json ? Json(text, rng, pick) : Lines(text, rng, pick);
        return (Encoding.UTF8.GetBytes(mutated), what);
    }

    private static (byte[], string) Random(byte[] b, Random rng, int kind)
    {
        if (b.Length == 0) return ([(byte)rng.Next(256)], "one random byte");
        switch (kind)
        {
            case 0:
                {
                    var c = (byte[])b.Clone();
                    int n = 1 + rng.Next(8);
                    for (int k = 0; k < n; k++) c[rng.Next(c.Length)] = (byte)rng.Next(256);
                    return (c, $"{n} random bytes");
                }
            case 1:
                {
                    int at = rng.Next(b.Length);
                    return (b[..at], $"truncated at {at}");
                }
            case 2:
                {
                    int at = rng.Next(b.Length), n = 1 + rng.Next(64);
                    var junk = new byte[n];
                    rng.NextBytes(junk);
                    return ([.. b[..at], .. junk, .. b[at..]], $"{n} bytes inserted at {at}");
                }
            case 3:
                {
                    int at = rng.Next(b.Length), n = Math.Min(b.Length - at, 1 + rng.Next(256));
                    return ([.. b[..at], .. b[(at + n)..]], $"{n} bytes deleted at {at}");
                }
            case 4:
                {
                    int at = rng.Next(b.Length), n = Math.Min(b.Length - at, 1 + rng.Next(256)), times = 2 + rng.Next(50);
                    var slice = b[at..(at + n)];
                    var result = new List<byte>(b[..at]);
                    for (int k = 0; k < times; k++) result.AddRange(slice);
                    result.AddRange(b[(at + n)..]);
                    return (result.ToArray(), $"{n} bytes at {at} repeated {times} times");
                }
            default:
                {
                    // A 32-bit little-endian edge value over 4 bytes: lengths, counts and offsets in binary formats.
                    var c = (byte[])b.Clone();
                    int at = rng.Next(Math.Max(1, c.Length - 4));
                    uint[] edges = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000];
                    uint v = edges[rng.Next(edges.Length)];
                    for (int k = 0; k < 4 && at + k < c.Length; k++) c[at + k] = (byte)(v >> (8 * k));
                    return (c, $"0x{v:X8} written at {at}");
                }
        }
    }

    private static (string, string) Json(string text, Random rng, int kind)
    {
        switch (kind)
        {
            case 0:
            case 1:
                {
                    var m = Pick(NumberToken().Matches(text), rng);
                    if (m == null) break;
                    string v = HostileNumbers[rng.Next(HostileNumbers.Length)];
                    return (text[..m.Index] + v + text[(m.Index + m.Length)..], $"number '{m.Value}' at {m.Index} → {v}");
                }
            case 2:
                {
                    var m = Pick(StringToken().Matches(text), rng);
                    if (m == null) break;
                    string v = HostileStrings[rng.Next(HostileStrings.Length)];
                    return (text[..m.Index] + "\"" + v + "\"" + text[(m.Index + m.Length)..], $"string {Short(m.Value)} at {m.Index} → \"{Short(v)}\"");
                }
            case 3:
                {
                    // Repeat a key inside its object with a hostile value (Python keeps the last).
                    var m = Pick(StringToken().Matches(text), rng);
                    if (m == null) break;
                    int colon = m.Index + m.Length;
                    while (colon < text.Length && text[colon] == ' ') colon++;
                    if (colon >= text.Length || text[colon] != ':') break;
                    string v = HostileNumbers[rng.Next(HostileNumbers.Length)];
                    return (text[..m.Index] + m.Value + ": " + v + ", " + text[m.Index..], $"key {Short(m.Value)} repeated with {v}");
                }
            case 4:
                {
                    var m = Pick(NumberToken().Matches(text), rng);
                    if (m == null) break;
                    int depth = rng.Next(2) == 0 ? 100 : 10_000;
                    return (text[..m.Index] + new string('[', depth) + new string(']', depth) + text[(m.Index + m.Length)..], $"value nested {depth} deep");
                }
            case 5:
                {
                    var m = Pick(StringToken().Matches(text), rng);
                    if (m == null) break;
                    int n = 1000 * (1 + rng.Next(100));
                    var wide = new StringBuilder("{");
                    for (int k = 0; k < n; k++) wide.Append(k == 0 ? "" : ",").Append("\"k").Append(k).Append("\":").Append(k);
                    return (text[..m.Index] + wide.Append('}') + text[(m.Index + m.Length)..], $"string replaced by an object of {n} keys");
                }
            default:
                {
                    int at = rng.Next(text.Length + 1);
                    return (text[..at] + "\\ud800" + text[at..], $"lone surrogate escape inserted at {at}");
                }
        }
        return (text + "x", "trailing garbage");
    }

    private static (string, string) Lines(string text, Random rng, int kind)
    {
        var lines = text.Split('\n').ToList();
        int i = rng.Next(lines.Count);
        switch (kind)
        {
            case 0:
                {
                    int times = 1 + rng.Next(20);
                    for (int k = 0; k < times; k++) lines.Insert(i, lines[i]);
                    return (string.Join('\n', lines), $"line {i + 1} repeated {times} times");
                }
            case 1:
                lines.RemoveAt(i);
                return (string.Join('\n', lines), $"line {i + 1} removed");
            case 2:
                {
                    char c = "\t, \"#"[rng.Next(5)];
                    int n = rng.Next(2) == 0 ? 1 + rng.Next(10) : 20_000;
                    lines[i] = lines[i].Insert(rng.Next(lines[i].Length + 1), new string(c, n));
                    return (string.Join('\n', lines), $"{n} × '{c}' inserted in line {i + 1}");
                }
            default:
                {
                    string[] hostile = ["", "\uFFFD", "\ud800", " ", "\r", "\0", new string('a', 200_000), "#version: 0.2", "a b c", "a"];
                    string v = hostile[rng.Next(hostile.Length)];
                    lines[i] = v;
                    return (string.Join('\n', lines), $"line {i + 1} → \"{Short(v)}\"");
                }
        }
    }

    /// <summary>Mutates the JSON header of a safetensors file and writes its length back, so the header is read.</summary>
    private static (byte[], string) SafeTensorsHeader(byte[] file, Random rng, int kind)
    {
        if (file.Length < 8) return (file, "too short to mutate");
        long n = BitConverter.ToInt64(file, 0);
        if (n <= 0 || n > file.Length - 8) return (file, "unreadable header length");
        string header = Encoding.UTF8.GetString(file, 8, (int)n);
        var (mutated, what) = Json(header, rng, kind);
        byte[] h = Encoding.UTF8.GetBytes(mutated);
        return ([.. BitConverter.GetBytes((long)h.Length), .. h, .. file[(8 + (int)n)..]], "header " + what);
    }

    private static Match? Pick(MatchCollection matches, Random rng) => matches.Count == 0 ? null : matches[rng.Next(matches.Count)];

    private static string Short(string s) => s.Length <= 24 ? s : s[..24] + "…";
}
