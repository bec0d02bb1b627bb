using System.Globalization;

namespace Finetune.Tokenizers.Unicode;

/// <summary>
/// Decomposition, composition, combining classes and full lower-case mappings, loaded from an embedded table
/// generated from Unicode data (tools/gen_unicode_tables.py). .NET's own string.Normalize and full case mapping
/// are unavailable under InvariantGlobalization, and tokenizers must not depend on the host's ICU anyway.
/// </summary>
internal static class UnicodeTables
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, int[]> Canonical = new();
    private static readonly Dictionary<int, int[]> Compat = new();
    private static readonly Dictionary<int, byte> CombiningClass = new();
    private static readonly Dictionary<long, int> Composites = new();
    private static readonly Dictionary<int, int[]> LowerFull = new();
    private static readonly HashSet<int> PythonSpaces = new();

    static UnicodeTables()
    {
        using var stream = typeof(UnicodeTables).Assembly.GetManifestResourceStream("Finetune.Tokenizers.unicode-tables.txt")
            ?? throw new InvalidOperationException("embedded unicode-tables.txt is missing");
        using var reader = new StreamReader(stream);
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length < 3 || line[0] == '#') continue;
            int colon = line.IndexOf(':');
            string key = colon < 0 ? line[2..] : line[2..colon];
            string value = colon < 0 ? "" : line[(colon + 1)..];
            switch (line[0])
            {
                case 'D': Canonical[Hex(key)] = Hexes(value); break;
                case 'K': Compat[Hex(key)] = Hexes(value); break;
                case 'C': CombiningClass[Hex(key)] = (byte)Hex(value); break;
                case 'L': LowerFull[Hex(key)] = Hexes(value); break;
                case 'S': PythonSpaces.Add(Hex(key)); break;
                case 'P':
                    int[] pair = Hexes(key);
                    Composites[Key(pair[0], pair[1])] = Hex(value);
                    break;
            }
        }
    }

    private static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static int[] Hexes(string s)
    {
        string[] parts = s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++) r[i] = Hex(parts[i]);
        return r;
    }

    private static long Key(int a, int b) => ((long)a << 21) | (uint)b;

    public static int Ccc(int cp) => cp < 0x300 ? 0 : CombiningClass.TryGetValue(cp, out byte c) ? c : 0;

    /// <summary>Appends the full canonical (or compatibility) decomposition of <paramref name="cp"/>.</summary>
    public static void Decompose(int cp, bool compat, List<int> output)
    {
        if (cp < 0xA0) { output.Add(cp); return; }
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (compat && Compat.TryGetValue(cp, out int[]? k)) { output.AddRange(k); return; }
        if (Canonical.TryGetValue(cp, out int[]? d)) { output.AddRange(d); return; }
        output.Add(cp);
    }

    public static bool HasDecomposition(int cp, bool compat) =>
        cp >= 0xA0 && ((cp >= SBase && cp < SBase + SCount) || Canonical.ContainsKey(cp) || (compat && Compat.ContainsKey(cp)));

    /// <summary>The primary composite of <paramref name="a"/> followed by <paramref name="b"/>, or -1.</summary>
    public static int Compose(int a, int b)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
            return a + (b - TBase);
        return Composites.TryGetValue(Key(a, b), out int c) ? c : -1;
    }

    /// <summary>Full lower-case mapping of one code point, without context (no final sigma), as Rust's char::to_lowercase.</summary>
    public static int[]? Lower(int cp) => cp < 'A' ? null : LowerFull.TryGetValue(cp, out int[]? m) ? m : null;

    /// <summary>Python's str.isspace.</summary>
    public static bool IsPythonSpace(int cp) => cp < 128 ? cp is ' ' or (>= 9 and <= 13) or (>= 0x1C and <= 0x1F) : PythonSpaces.Contains(cp);

    public static UnicodeCategory Category(int cp) => CharUnicodeInfo.GetUnicodeCategory(cp);

    public static bool IsMark(int cp) => Category(cp) is UnicodeCategory.NonSpacingMark;
}
