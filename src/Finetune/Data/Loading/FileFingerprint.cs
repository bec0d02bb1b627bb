using System.Security.Cryptography;

namespace Finetune.Data.Loading;

/// <summary>A content hash of data files, so a changed file changes every fingerprint derived from it.</summary>
internal static class FileFingerprint
{
    public static string Of(params string[] paths)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in paths)
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(p) + "\0"));
            using var fs = File.OpenRead(p);
            var buf = new byte[1 << 16];
            int n;
            while ((n = fs.Read(buf, 0, buf.Length)) > 0) sha.AppendData(buf, 0, n);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }
}
