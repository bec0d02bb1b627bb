namespace Finetune.Tests;

/// <summary>
/// Locates the read-only `../shared` folder (datasets, tokenizer files, golden outputs). A test that needs it calls
/// <see cref="Require"/>, which skips the test with a message saying so when the folder is absent; it never passes
/// silently. Set FINETUNE_SHARED to point elsewhere.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string?> RootDir = new(FindRoot);

    public static string? Root => RootDir.Value;

    /// <summary>Absolute path of <paramref name="relative"/> under shared/, or a skip when it is not there.</summary>
    public static string Require(string relative = "")
    {
        string? root = Root;
        Skip.If(root == null, "../shared not found (set FINETUNE_SHARED): this test needs the shared data folder");
        string path = Path.Combine(root!, relative);
        Skip.IfNot(File.Exists(path) || Directory.Exists(path), $"shared/{relative} not found: this test needs it");
        return path;
    }

    private static string? FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("FINETUNE_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return Path.GetFullPath(env);
        // Walk up from the test binary to the repository root (the folder holding Finetune.slnx); shared/ sits beside it.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Finetune.slnx")))
            {
                string beside = Path.Combine(dir.FullName, "..", "shared");
                if (Directory.Exists(beside)) return Path.GetFullPath(beside);
                string inside = Path.Combine(dir.FullName, "shared");
                return Directory.Exists(inside) ? Path.GetFullPath(inside) : null;
            }
        }
        return null;
    }
}

/// <summary>A temporary folder deleted when the test ends.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "finetune-test-" + Guid.NewGuid().ToString("N")[..12]));

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
