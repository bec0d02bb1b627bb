namespace Finetune.Hub;

/// <summary>
/// The one-line entry points (settings from the environment): what <c>FromPretrained</c> and <c>LoadDataset</c>
/// call to turn a name into local files.
/// </summary>
public static class Hub
{
    /// <summary>A local folder as is, else the cached snapshot folder of the Hub model (downloading what is missing): <see cref="NameOrPath.ResolveModel"/>.</summary>
    public static string ResolveModel(string nameOrPath, string? revision = null, ModelFiles parts = ModelFiles.All) =>
        NameOrPath.ResolveModel(nameOrPath, parts, revision);

    /// <summary>A local folder's data files as is, else the Hub dataset's data files in the cache.</summary>
    public static HubDataset ResolveDataset(string nameOrPath, string? revision = null, string? config = null)
    {
        using var client = new HubClient();
        return client.ResolveDataset(nameOrPath, revision, config);
    }

    /// <summary>One file of a Hub repository, cached (huggingface_hub's hf_hub_download).</summary>
    public static string Download(string repoId, string filename, string? revision = null, RepoType type = RepoType.Model)
    {
        using var client = new HubClient();
        return client.Download(repoId, filename, revision, type);
    }
}
