using System.Globalization;
using Finetune.Bench;
using Finetune.Data;
using Xunit.Abstractions;

namespace Finetune.Tests.Data;

/// <summary>
/// Our Parquet reader next to Parquet.Net 6.1 (the maintained, fully managed peer the project may move to) on
/// Apache's parquet-testing corpus and the shipped Hub export: which files each reads, and, where both read a file,
/// that every top-level column holds the same values row for row. The counts go to the test output for the
/// coordinator's decision; the assertions are the agreement and that our reader never crashes.
/// </summary>
public class ParquetPeerTests(ITestOutputHelper output)
{
    private static IEnumerable<string> Corpus()
    {
        string data = SharedData.Require("parquet-testing/data");
        string bad = SharedData.Require("parquet-testing/bad_data");
        var files = Directory.EnumerateFiles(data, "*.parquet*", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(bad, "*.parquet"));
        string? datasets = SharedData.Root is { } root && Directory.Exists(Path.Combine(root, "datasets")) ? Path.Combine(root, "datasets") : null;
        if (datasets != null) files = files.Concat(Directory.EnumerateFiles(datasets, "*.parquet", SearchOption.AllDirectories));
        return files.Order(StringComparer.Ordinal);
    }

    [SkippableFact]
    public void BothReadersAgreeOnEveryFileBothRead()
    {
        int oursOnly = 0, peerOnly = 0, both = 0, neither = 0, columnsCompared = 0, columnsSkipped = 0;
        var mismatches = new List<string>();
        foreach (string f in Corpus())
        {
            string name = Path.GetRelativePath(SharedData.Root!, f);
            Dataset? ours = null;
            string? oursError = null;
            try
            {
                ours = Dataset.FromFile(f, new LoadOptions { Format = "parquet" });
            }
            catch (FinetuneException e)
            {
                oursError = e.Message;
            }
            List<KeyValuePair<string, List<object?>>>? peer = null;
            string? peerError = null;
            try
            {
                peer = ParquetNetPeer.ReadAll(f);
            }
            catch (Exception e)
            {
                peerError = e.GetType().Name + ": " + e.Message.Split('\n')[0];
            }
            output.WriteLine($"{(ours != null ? "ours ok " : "ours ERR")} {(peer != null ? "peer ok " : "peer ERR")} {name}{(oursError != null ? "\n    ours: " + oursError : "")}{(peerError != null ? "\n    peer: " + peerError : "")}");
            if (ours == null && peer == null) { neither++; continue; }
            if (ours == null) { peerOnly++; continue; }
            if (peer == null) { oursOnly++; continue; }
            both++;
            foreach (var (column, values) in peer)
            {
                if (!ours.Features.Contains(column)) continue;
                var col = ours.GetColumn(column);
                if (col.Length != values.Count)
                {
                    mismatches.Add($"{name}: column '{column}' has {col.Length} rows in ours, {values.Count} in Parquet.Net");
                    continue;
                }
                bool compared = true;
                for (int r = 0; r < values.Count; r++)
                {
                    bool? same = Same(col.GetValue(r), values[r]);
                    if (same == null) { compared = false; break; }
                    if (same == false)
                    {
                        mismatches.Add($"{name}: column '{column}' row {r}: ours {Show(col.GetValue(r))}, Parquet.Net {Show(values[r])}");
                        break;
                    }
                }
                if (compared) columnsCompared++; else columnsSkipped++;
            }
        }
        output.WriteLine($"\nfiles read by both {both}, only ours {oursOnly}, only Parquet.Net {peerOnly}, neither {neither}; " +
            $"columns compared value by value {columnsCompared}, not comparable (timestamps, binary as hex) {columnsSkipped}");
        Assert.True(both > 40, $"only {both} files were read by both readers");
        Assert.True(columnsCompared > 100, $"only {columnsCompared} columns were compared");
        Assert.Empty(mismatches);
    }

    private static string Show(object? v) => v switch
    {
        null => "null",
        int[] a => "[" + string.Join(",", a) + "]",
        IFormattable x => x.GetType().Name + " " + x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.GetType().Name + " " + v,
    };

    /// <summary>
    /// Whether two readings of one value agree, after the conversions our reader makes on purpose (int8/int16 as
    /// int32, uint32 as int64, decimals as float64); null when the two representations are not comparable
    /// (timestamps as DateTime vs nanoseconds, fixed-length binary as text vs hex).
    /// </summary>
    private static bool? Same(object? ours, object? peer)
    {
        if (ours == null || peer == null) return ours == null && peer == null;
        switch (peer)
        {
            case DateTime or DateOnly or TimeSpan or TimeOnly or byte[] or Guid:
                return null;
            case string s:
                return ours is string text ? (text == s ? true : IsHexOf(text, s) ? null : false) : null;
            case bool b:
                return ours is bool ob && ob == b;
            case float or double:
                {
                    double p = Convert.ToDouble(peer, CultureInfo.InvariantCulture);
                    double o = Convert.ToDouble(ours, CultureInfo.InvariantCulture);
                    return p.Equals(o);
                }
            case decimal d:
                {
                    double o = Convert.ToDouble(ours, CultureInfo.InvariantCulture);
                    return Math.Abs((double)d - o) <= 1e-9 * Math.Max(1, Math.Abs(o));
                }
            case ulong u:
                return ours is long ol && ol == unchecked((long)u);
            case sbyte or short or int or long or byte or ushort or uint:
                return ours is int or long && Convert.ToInt64(ours, CultureInfo.InvariantCulture) == Convert.ToInt64(peer, CultureInfo.InvariantCulture);
            default:
                return null;
        }
    }

    // Our reader shows fixed-length binary that is not UTF-8 text as hex; Parquet.Net decodes the bytes as text.
    private static bool IsHexOf(string ours, string peer) =>
        ours.Length % 2 == 0 && ours.All(char.IsAsciiHexDigitLower) && ours.Length == System.Text.Encoding.UTF8.GetByteCount(peer) * 2;
}
