namespace Finetune.Bench;

/// <summary>What every suite reads the same way: an option's value and the shared data folder.</summary>
internal static class BenchArgs
{
    /// <summary>The value after <paramref name="name"/> on the command line, or null.</summary>
    public static string? Get(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The integer after <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public static int Int(string[] args, string name, int fallback) =>
        Get(args, name) is string v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    /// <summary>../shared beside the repository that holds this program.</summary>
    public static string FindShared()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "..", "shared");
            if (File.Exists(Path.Combine(dir.FullName, "Finetune.slnx")) && Directory.Exists(candidate)) return Path.GetFullPath(candidate);
        }
        return Path.GetFullPath("../shared");
    }
}
