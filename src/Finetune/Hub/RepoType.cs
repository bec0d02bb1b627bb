namespace Finetune.Hub;

/// <summary>The three kinds of Hub repository; they live under different URL prefixes and cache folder names.</summary>
public enum RepoType
{
    Model,
    Dataset,
    Space,
}

public static class RepoTypes
{
    /// <summary>"model", "dataset", "space" as huggingface_hub spells them.</summary>
    public static string Name(this RepoType t) => t switch
    {
        RepoType.Dataset => "dataset",
        RepoType.Space => "space",
        _ => "model",
    };

    /// <summary>URL prefix before the repo id in resolve URLs ("" for models, "datasets/" for datasets).</summary>
    public static string UrlPrefix(this RepoType t) => t switch
    {
        RepoType.Dataset => "datasets/",
        RepoType.Space => "spaces/",
        _ => "",
    };

    public static RepoType Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "model" or "models" => RepoType.Model,
        "dataset" or "datasets" => RepoType.Dataset,
        "space" or "spaces" => RepoType.Space,
        _ => throw FinetuneException.Invalid($"Unknown repository type '{text}': expected model, dataset or space."),
    };

    internal static bool TryParsePlural(string text, out RepoType type)
    {
        type = RepoType.Model;
        switch (text)
        {
            case "models": type = RepoType.Model; return true;
            case "datasets": type = RepoType.Dataset; return true;
            case "spaces": type = RepoType.Space; return true;
            default: return false;
        }
    }
}

/// <summary>Which of a model repository's files <see cref="HubClient.ResolveModel"/> fetches.</summary>
[Flags]
public enum ModelFiles
{
    /// <summary>config.json.</summary>
    Config = 1,
    /// <summary>model.safetensors, or its index and shards, else pytorch_model.bin (or its shards).</summary>
    Weights = 2,
    /// <summary>Whichever tokenizer files the repository has (tokenizer.json, vocab.txt, spiece.model, ...).</summary>
    Tokenizer = 4,
    All = Config | Weights | Tokenizer,
}
