namespace Finetune;

/// <summary>
/// Writes a file under a temporary name in the same folder and renames it into place, so that a crash or a full
/// disk never leaves half a file where a complete one is expected.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (IOException e)
        {
            TryDelete(tmp);
            throw new FinetuneException(ErrorKind.Io, $"Could not write '{full}': {e.Message}", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true); w.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>
    /// Whether a file name is one of Write's temporary names (".{name}.{pid}.{8 hex digits}.tmp"), which only a
    /// process killed while writing leaves behind.
    /// </summary>
    public static bool IsTemporaryName(string fileName)
    {
        if (fileName.Length < 16 || fileName[0] != '.' || !fileName.EndsWith(".tmp", StringComparison.Ordinal)) return false;
        var rest = fileName.AsSpan(1, fileName.Length - 5);       // {name}.{pid}.{hex}
        int dot = rest.LastIndexOf('.');
        if (dot < 0 || rest.Length - dot - 1 != 8 || !IsHex(rest[(dot + 1)..])) return false;
        rest = rest[..dot];
        dot = rest.LastIndexOf('.');
        return dot > 0 && dot + 1 < rest.Length && IsDigits(rest[(dot + 1)..]);
    }

    private static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (char c in s) if (!char.IsAsciiHexDigitLower(c)) return false;
        return true;
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        foreach (char c in s) if (!char.IsAsciiDigit(c)) return false;
        return true;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
