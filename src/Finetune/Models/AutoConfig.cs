using System.Text.Json.Nodes;

namespace Finetune.Models;

/// <summary>Reads config.json and builds the family's config class from its model_type.</summary>
public static class AutoConfig
{
    /// <summary>model_type → config factory, for every family this library implements (the rows of <see cref="ModelRegistry"/>).</summary>
    public static readonly IReadOnlyDictionary<string, Func<JsonObject, PretrainedConfig>> Families =
        ModelRegistry.Families.ToDictionary(f => f.ModelType, f => f.Config);

    /// <summary>Architecture class-name prefixes of old configs, longest first so XLMRoberta wins over Roberta.</summary>
    private static readonly ModelFamily[] ByArchitecturePrefix = ModelRegistry.Families.OrderByDescending(f => f.ArchitecturePrefix.Length).ToArray();

    /// <summary>
    /// Loads `config.json` of the folder <paramref name="dir"/> (or the file itself), or of a Hub model id
    /// (<c>"org/name"</c>, at <paramref name="revision"/>), fetching only config.json into the Hugging Face cache.
    /// </summary>
    public static PretrainedConfig FromPretrained(string dir, string? revision = null)
    {
        string resolved = Hub.NameOrPath.ResolveModel(dir, Hub.ModelFiles.Config, revision, acceptFile: true);
        string path = File.Exists(resolved) ? resolved : Path.Combine(resolved, "config.json");
        JsonObject json = PretrainedConfig.ReadJson(path);
        string modelType = ModelTypeOf(json, path);
        if (!Families.TryGetValue(modelType, out var make))
            throw new FinetuneException(ErrorKind.Unsupported, $"Config '{path}' has model_type '{modelType}', which is not supported (supported: {string.Join(", ", Families.Keys)}).");
        try
        {
            var config = make(json);
            config.SourcePath = path;
            config.Validate();
            return config;
        }
        catch (FinetuneException e) when (!e.Message.Contains(path, StringComparison.Ordinal))
        {
            throw new FinetuneException(e.Kind, $"Config '{path}': {e.Message}", e);
        }
    }

    /// <summary>
    /// model_type from the file; for old configs without it, from the architecture name, and failing that from
    /// the folder name (transformers matches the model-type names against the path, longest first).
    /// </summary>
    private static string ModelTypeOf(JsonObject json, string path)
    {
        if (json["model_type"] is JsonValue v && v.TryGetValue(out string? t) && !string.IsNullOrEmpty(t)) return t;
        if (json["architectures"] is JsonArray arch)
        {
            foreach (var a in arch)
            {
                if (a is JsonValue av && av.TryGetValue(out string? name) && name != null)
                    foreach (var family in ByArchitecturePrefix)
                        if (name.StartsWith(family.ArchitecturePrefix, StringComparison.Ordinal)) return family.ModelType;
            }
        }
        string folder = Path.GetFullPath(path);
        foreach (string type in Families.Keys.OrderByDescending(k => k.Length))
            if (folder.Contains(type, StringComparison.OrdinalIgnoreCase)) return type;
        throw FinetuneException.Invalid($"Config '{path}' has no model_type, and neither its architectures nor its path name a supported family.");
    }
}
