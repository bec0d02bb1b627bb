using System.Buffers;
using System.IO.Compression;
using System.Text;
using System.Text.Unicode;

namespace Finetune.Data.Loading;

/// <summary>Reads a data file as bytes (gunzipping `.gz`) and decodes it to text.</summary>
internal static class TextSource
{
    public static byte[] ReadBytes(string path)
    {
        try
        {
            byte[] raw = File.ReadAllBytes(path);
            bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || (raw.Length > 2 && raw[0] == 0x1f && raw[1] == 0x8b);
            if (!gz) return raw;
            using var input = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var output = new MemoryStream(raw.Length * 4);
            input.CopyTo(output);
            return output.ToArray();
        }
        catch (FileNotFoundException e) { throw FinetuneException.Missing($"Data file '{path}' does not exist.", e); }
        catch (DirectoryNotFoundException e) { throw FinetuneException.Missing($"Data file '{path}' does not exist.", e); }
        catch (InvalidDataException e) { throw FinetuneException.Invalid($"'{path}' is not a valid gzip file: {e.Message}", e); }
        catch (IOException e) { throw new FinetuneException(ErrorKind.Io, $"Could not read '{path}': {e.Message}", e); }
    }

    /// <summary>
    /// Decodes <paramref name="bytes"/>. Without an encoding: UTF-8 (a BOM is dropped) and invalid bytes are an error
    /// naming their offset. Encodings: utf-8, utf-8-sig, latin-1/iso-8859-1, cp1252/windows-1252, utf-16.
    /// </summary>
    public static string Decode(byte[] bytes, string path, string? encoding)
    {
        string enc = (encoding ?? "utf-8").ToLowerInvariant().Replace('_', '-');
        ReadOnlySpan<byte> span = bytes;
        switch (enc)
        {
            case "utf-8" or "utf8" or "utf-8-sig":
                if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
                return DecodeUtf8Strict(span, path, bytes.Length - span.Length);
            case "latin-1" or "latin1" or "iso-8859-1" or "iso8859-1":
                return Encoding.Latin1.GetString(span);
            case "cp1252" or "windows-1252":
                Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
                return Encoding.GetEncoding(1252).GetString(span);
            case "utf-16" or "utf16":
                return Encoding.Unicode.GetString(span);
            default:
                throw new FinetuneException(ErrorKind.Unsupported, $"Encoding '{encoding}' is not supported for '{path}' (use utf-8, latin-1, cp1252 or utf-16).");
        }
    }

    private static string DecodeUtf8Strict(ReadOnlySpan<byte> span, string path, int offsetBase)
    {
        char[] buffer = ArrayPool<char>.Shared.Rent(Math.Max(1, span.Length));
        try
        {
            var status = Utf8.ToUtf16(span, buffer, out int read, out int written, replaceInvalidSequences: false);
            if (status != System.Buffers.OperationStatus.Done)
            {
                long offset = read + offsetBase;
                int line = 1;
                for (int i = 0; i < read; i++) if (span[i] == (byte)'\n') line++;
                throw FinetuneException.Invalid($"'{path}' is not valid UTF-8: invalid byte 0x{span[read]:X2} at byte offset {offset} (line {line}); pass an encoding such as latin-1 or cp1252 if the file is not UTF-8.");
            }
            return new string(buffer, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
