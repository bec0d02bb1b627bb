using System.Diagnostics;
using Finetune.Hub;

namespace Finetune.Tests.Hub;

/// <summary>A fake Hub, a temporary cache and settings pointing at both, with retries kept short.</summary>
internal sealed class HubTestBed : IDisposable
{
    public const string Commit1 = "4f0c4bd2b5e3a1d6c7e8f9a0b1c2d3e4f5a6b7c8";
    public const string Commit2 = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";
    public const string ExportCommit = "e1e2e3e4e5e6e7e8e9e0d1d2d3d4d5d6d7d8d9d0";

    // The tiny model's files. Their ids were computed independently (git hash-object, sha256sum), see the layout test.
    public const string ConfigText = "{\"architectures\": [\"BertForSequenceClassification\"], \"model_type\": \"bert\", \"hidden_size\": 32}\n";
    public const string TokenizerConfigText = "{\"do_lower_case\": true}\n";
    public const string VocabText = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n";

    public static byte[] Weights { get; } = Enumerable.Range(0, 300_000).Select(i => (byte)(i % 251)).ToArray();

    public HubTestBed()
    {
        Hub = new FakeHub();
        Dir = new TempDir();
    }

    public FakeHub Hub { get; }

    public TempDir Dir { get; }

    public string Cache => Path.Combine(Dir.Path, "hub");

    public HubSettings Settings(string? token = null, bool offline = false) => new()
    {
        Endpoint = Hub.Endpoint,
        CacheDir = Cache,
        Token = token,
        Offline = offline,
        MaxRetries = 3,
        BaseBackoff = TimeSpan.FromMilliseconds(10),
        MaxBackoff = TimeSpan.FromMilliseconds(40),
        MetadataTimeout = TimeSpan.FromSeconds(10),
        DownloadTimeout = TimeSpan.FromSeconds(10),
        LockTimeout = TimeSpan.FromSeconds(60),
    };

    public HubClient Client(string? token = null, bool offline = false) => new(Settings(token, offline));

    public static Dictionary<string, FakeHub.FakeFile> TinyBertFiles() => new()
    {
        ["config.json"] = FakeHub.Git(ConfigText),
        ["tokenizer_config.json"] = FakeHub.Git(TokenizerConfigText),
        ["vocab.txt"] = FakeHub.Git(VocabText),
        ["model.safetensors"] = FakeHub.Lfs(Weights),
        ["README.md"] = FakeHub.Git("# tiny\n"),
    };

    public FakeHub.Repo AddTinyBert(string id = "org/tiny-bert") =>
        Hub.AddRepo(RepoType.Model, id, Commit1, TinyBertFiles());

    /// <summary>
    /// The CLI next to the test assembly, run by the dotnet host, optionally behind a wrapper command (the
    /// read-only cache test runs it in a mount namespace or as another user).
    /// </summary>
    public static ProcessStartInfo CliProcess(IEnumerable<string> args, IDictionary<string, string?> env, IReadOnlyList<string>? wrapper = null)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Finetune.Cli.dll");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h
            : Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (wrapper is { Count: > 0 })
        {
            psi.FileName = wrapper[0];
            foreach (string a in wrapper.Skip(1)) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add(dotnet);
        }
        else psi.FileName = dotnet;
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (string k in new[] { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT" })
            psi.Environment.Remove(k);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        return psi;
    }

    public static (int Code, string Stdout, string Stderr) RunCli(ProcessStartInfo psi)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("the finetune CLI did not finish within 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public Dictionary<string, string?> CliEnv() => new()
    {
        ["HF_ENDPOINT"] = Hub.Endpoint,
        ["HF_HUB_CACHE"] = Cache,
        ["HF_HOME"] = Path.Combine(Dir.Path, "hf-home"),
    };

    public void Dispose()
    {
        Hub.Dispose();
        Dir.Dispose();
    }
}
