using System.Text;
using System.Text.RegularExpressions;

namespace Finetune.Data.Loading;

/// <summary>Expands `*`, `?` and `**` patterns to the matching files, sorted.</summary>
internal static class Glob
{
    public static IEnumerable<string> Expand(string pattern)
    {
        if (pattern.IndexOfAny(['*', '?']) < 0) return File.Exists(pattern) ? new[] { pattern } : throw FinetuneException.Missing($"Data file '{pattern}' does not exist.");
        string normalized = pattern.Replace('\\', '/');
        int firstWild = normalized.IndexOfAny(['*', '?']);
        int slash = normalized.LastIndexOf('/', firstWild);
        string baseDir = slash < 0 ? "." : normalized[..slash];
        if (baseDir.Length == 0) baseDir = "/";
        string rest = slash < 0 ? normalized : normalized[(slash + 1)..];
        if (!Directory.Exists(baseDir)) return Array.Empty<string>();
        var sb = new StringBuilder("^");
        for (int i = 0; i < rest.Length; i++)
        {
            char c = rest[i];
            if (c == '*' && i + 1 < rest.Length && rest[i + 1] == '*')
            {
                sb.Append(i + 2 < rest.Length && rest[i + 2] == '/' ? "(.*/)?" : ".*");
                i += i + 2 < rest.Length && rest[i + 2] == '/' ? 2 : 1;
            }
            else if (c == '*') sb.Append("[^/]*");
            else if (c == '?') sb.Append("[^/]");
            else sb.Append(Regex.Escape(c.ToString()));
        }
        sb.Append('$');
        var re = new Regex(sb.ToString());
        return Directory.EnumerateFiles(baseDir, "*", SearchOption.AllDirectories)
            .Where(f => re.IsMatch(Path.GetRelativePath(baseDir, f).Replace('\\', '/')))
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
