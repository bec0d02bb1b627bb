using Finetune.Hub;

namespace Finetune.Tests.Hub;

public class HubSettingsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars)
    {
        var d = vars.ToDictionary(v => v.Key, v => v.Value);
        return k => d.TryGetValue(k, out var v) ? v : null;
    }

    [Fact]
    public void TheCacheDefaultsFollowHuggingFaceHub()
    {
        Assert.Equal("/home/u/.cache/huggingface/hub", HubSettings.FromEnvironment(Env(("HOME", "/home/u"))).CacheDir);
        Assert.Equal("/x/huggingface/hub", HubSettings.FromEnvironment(Env(("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x"))).CacheDir);
        Assert.Equal("/hf/hub", HubSettings.FromEnvironment(Env(("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/hf"))).CacheDir);
        Assert.Equal("/c", HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c"))).CacheDir);
        Assert.Equal("/legacy", HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"), ("HUGGINGFACE_HUB_CACHE", "/legacy"))).CacheDir);
        Assert.Equal("/home/u/hf/hub", HubSettings.FromEnvironment(Env(("HOME", "/home/u"), ("HF_HOME", "~/hf"))).CacheDir);
    }

    [Fact]
    public void OfflineModeReadsHfHubOfflineBeforeTransformersOffline()
    {
        Assert.False(HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"))).Offline);
        Assert.True(HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"), ("HF_HUB_OFFLINE", "1"))).Offline);
        Assert.True(HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"), ("HF_HUB_OFFLINE", "yes"))).Offline);
        Assert.True(HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"), ("TRANSFORMERS_OFFLINE", "TRUE"))).Offline);
        Assert.False(HubSettings.FromEnvironment(Env(("HF_HOME", "/hf"), ("HF_HUB_OFFLINE", "0"), ("TRANSFORMERS_OFFLINE", "1"))).Offline);
    }

    [Fact]
    public void EndpointAndTokenComeFromTheEnvironmentOrTheTokenFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("token"), "hf_from_file\n");
        var fromFile = HubSettings.FromEnvironment(Env(("HF_HOME", dir.Path), ("HF_ENDPOINT", "http://mirror.local/")));
        Assert.Equal("http://mirror.local", fromFile.Endpoint);
        Assert.Equal("hf_from_file", fromFile.Token);
        Assert.Equal("hf_env", HubSettings.FromEnvironment(Env(("HF_HOME", dir.Path), ("HF_TOKEN", "hf_env"))).Token);
        File.WriteAllText(dir.File("other"), "hf_other");
        Assert.Equal("hf_other", HubSettings.FromEnvironment(Env(("HF_HOME", dir.Path), ("HF_TOKEN_PATH", dir.File("other")))).Token);
        Assert.Null(HubSettings.FromEnvironment(Env(("HF_HOME", dir.File("none")))).Token);
        Assert.Equal(HubSettings.DefaultEndpoint, HubSettings.FromEnvironment(Env(("HF_HOME", dir.Path))).Endpoint);
    }
}

public class FileLockTests
{
    [Fact]
    public void ASecondHolderWaitsAndThenGivesUpWithAnIoError()
    {
        using var dir = new TempDir();
        string path = dir.File("locks/x.lock");
        using (FileLock.Acquire(path, TimeSpan.FromSeconds(1)))
        {
            var e = Assert.Throws<FinetuneException>(() => FileLock.Acquire(path, TimeSpan.FromMilliseconds(200)));
            Assert.Equal(ErrorKind.Io, e.Kind);
            Assert.Contains("another download holds it", e.Message);
        }
        using (FileLock.Acquire(path, TimeSpan.FromSeconds(1))) { } // released with its holder
    }
}
