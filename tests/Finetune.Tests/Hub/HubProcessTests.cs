using System.Diagnostics;
using Finetune.Hub;

namespace Finetune.Tests.Hub;

/// <summary>The CLI run as separate processes: concurrent downloads, a read-only cache, `finetune cache`.</summary>
public class HubProcessTests
{
    [Fact]
    public async Task TwoProcessesDownloadingTheSameModelShareOneDownload()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        bed.Hub.LfsDelayMs = 300; // hold the body back so the second process arrives while the first downloads

        var psi = HubTestBed.CliProcess(["download", "org/tiny-bert"], bed.CliEnv());
        using var a = Process.Start(psi)!;
        using var b = Process.Start(HubTestBed.CliProcess(["download", "org/tiny-bert"], bed.CliEnv()))!;
        var outA = a.StandardOutput.ReadToEndAsync();
        var outB = b.StandardOutput.ReadToEndAsync();
        var errA = a.StandardError.ReadToEndAsync();
        var errB = b.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await a.WaitForExitAsync(timeout.Token);
        await b.WaitForExitAsync(timeout.Token);

        string expected = Path.Combine(bed.Cache, "models--org--tiny-bert", "snapshots", HubTestBed.Commit1);
        Assert.True(a.ExitCode == 0, (await errA));
        Assert.True(b.ExitCode == 0, (await errB));
        Assert.Equal(expected, (await outA).Trim().Split('\n')[^1]);
        Assert.Equal(expected, (await outB).Trim().Split('\n')[^1]);
        Assert.Equal(HubTestBed.Weights, File.ReadAllBytes(Path.Combine(expected, "model.safetensors")));
        // The lock let only one process fetch the weights; the other found the finished blob.
        Assert.Equal(1, bed.Hub.Count("GET", "/cdn/"));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(bed.Cache, "models--org--tiny-bert", "blobs"), "*.incomplete"));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void AReadOnlyCacheIsUsableForReads()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        string folder;
        using (var client = bed.Client()) folder = client.ResolveModel("org/tiny-bert");

        SetReadOnly(bed.Dir.Path, readOnly: true);
        try
        {
            // Online by branch (a HEAD, then all from the cache), then by commit: nothing needs writing.
            var env = bed.CliEnv();
            env["HOME"] = bed.Dir.Path;
            var (code, stdout, stderr) = RunOnReadOnlyCache(bed.Cache, ["download", "org/tiny-bert"], env);
            Assert.True(code == 0, stderr);
            Assert.Equal(folder, stdout.Trim().Split('\n')[^1]);

            // A file that is not cached cannot be added: a clear I/O error, not a crash.
            (code, _, stderr) = RunOnReadOnlyCache(bed.Cache, ["download", "org/tiny-bert", "README.md"], env);
            Assert.Equal(new FinetuneException(ErrorKind.Io, "").ExitCode, code);
            Assert.Contains("README.md", stderr);
        }
        finally
        {
            SetReadOnly(bed.Dir.Path, readOnly: false);
        }
        Assert.False(Directory.Exists(Path.Combine(bed.Cache, "models--org--tiny-bert", "snapshots", HubTestBed.Commit1, "README.md")));
    }

    [Fact]
    public void CacheListShowsReposAndCacheRemoveDeletesOne()
    {
        using var bed = new HubTestBed();
        bed.AddTinyBert();
        HubLayoutTests.AddDatasets(bed);
        using (var client = bed.Client()) client.ResolveModel("org/tiny-bert");
        var (code, stdout, stderr) = HubTestBed.RunCli(HubTestBed.CliProcess(["download", "org/tiny-ds", "--repo-type", "dataset"], bed.CliEnv()));
        Assert.True(code == 0, stderr);
        Assert.Equal(Path.Combine(bed.Cache, "datasets--org--tiny-ds", "snapshots", HubTestBed.Commit2), stdout.Trim().Split('\n')[^1]);
        Assert.Contains("downloaded data/train-00000-of-00001.parquet", stdout);

        var repos = HubCache.Scan(bed.Cache);
        Assert.Equal([(RepoType.Model, "org/tiny-bert"), (RepoType.Dataset, "org/tiny-ds")], repos.Select(r => (r.Type, r.RepoId)));
        Assert.Equal(HubTestBed.Weights.Length + HubTestBed.ConfigText.Length + HubTestBed.TokenizerConfigText.Length + HubTestBed.VocabText.Length, repos[0].SizeOnDisk);
        Assert.Equal(HubTestBed.Commit1, repos[0].Refs["main"]);

        (code, stdout, stderr) = HubTestBed.RunCli(HubTestBed.CliProcess(["cache", "list"], bed.CliEnv()));
        Assert.True(code == 0, stderr);
        Assert.Contains("org/tiny-bert", stdout);
        Assert.Contains("org/tiny-ds", stdout);

        (code, stdout, stderr) = HubTestBed.RunCli(HubTestBed.CliProcess(["cache", "remove", "org/tiny-ds", "--repo-type", "dataset"], bed.CliEnv()));
        Assert.True(code == 0, stderr);
        Assert.False(Directory.Exists(Path.Combine(bed.Cache, "datasets--org--tiny-ds")));
        Assert.Equal(["org/tiny-bert"], HubCache.Scan(bed.Cache).Select(r => r.RepoId));

        (code, _, stderr) = HubTestBed.RunCli(HubTestBed.CliProcess(["cache", "remove", "org/tiny-ds", "--repo-type", "dataset"], bed.CliEnv()));
        Assert.Equal(4, code);
        Assert.Contains("not in the cache", stderr);
    }

    // Root ignores file permissions, so as root the cache is made read-only by a read-only bind mount in a private
    // mount namespace, or, where that is not allowed, the CLI runs as the unprivileged user "nobody".
    private static (int Code, string Stdout, string Stderr) RunOnReadOnlyCache(string cache, string[] args, Dictionary<string, string?> env)
    {
        bool root = Environment.UserName == "root";
        if (!root) return HubTestBed.RunCli(HubTestBed.CliProcess(args, env));
        const int mountFailed = 97;
        var result = HubTestBed.RunCli(HubTestBed.CliProcess(args, env,
            ["unshare", "-m", "sh", "-c", $"mount --bind -o ro \"$0\" \"$0\" 2>/dev/null || exit {mountFailed}; exec \"$@\"", cache]));
        if (result.Code != mountFailed && !result.Stderr.Contains("unshare:", StringComparison.Ordinal)) return result;
        return HubTestBed.RunCli(HubTestBed.CliProcess(args, env, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]));
    }

    // Directories r-x and files r-- for everyone (so an unprivileged user can read but not write), or back to rwx.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void SetReadOnly(string root, bool readOnly)
    {
        const UnixFileMode dirRo = UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        const UnixFileMode fileRo = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        var dirs = Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).Prepend(root).ToList();
        if (!readOnly) foreach (string d in dirs) File.SetUnixFileMode(d, dirRo | UnixFileMode.UserWrite);
        foreach (string f in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            if (new FileInfo(f).LinkTarget == null) File.SetUnixFileMode(f, readOnly ? fileRo : fileRo | UnixFileMode.UserWrite);
        if (readOnly) foreach (string d in dirs) File.SetUnixFileMode(d, dirRo);
    }
}
