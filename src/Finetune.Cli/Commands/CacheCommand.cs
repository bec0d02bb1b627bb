using System.CommandLine;
using Finetune.Hub;

namespace Finetune.Cli.Commands;

// `finetune cache list|remove`: the shared Hugging Face cache (HF_HUB_CACHE), the same folder Python uses.
internal sealed class CacheCommand : ICliCommand
{
    public Command Build()
    {
        var cmd = new Command("cache", "List or remove repositories in the shared Hugging Face cache.");

        var list = new Command("list", "List cached repositories with their size, revisions and folder.");
        list.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string dir = HubSettings.Current.CacheDir;
            var repos = HubCache.Scan(dir);
            output.WriteLine($"cache: {dir}");
            if (repos.Count == 0)
            {
                output.WriteLine("(empty)");
                return 0;
            }
            output.WriteLine($"{"REPO ID",-40} {"TYPE",-8} {"SIZE",10} {"FILES",5}  {"REFS",-20}  SOURCE");
            foreach (var r in repos)
            {
                // A converted snapshot's name is not a commit hash: show it whole, it says which package it came from.
                string refs = string.Join(", ", r.Refs.Select(kv => $"{kv.Key}={(PackagedModelCache.SourceOf(kv.Value) != null ? kv.Value : kv.Value[..Math.Min(8, kv.Value.Length)])}"));
                output.WriteLine($"{r.RepoId,-40} {r.Type.ToString().ToLowerInvariant(),-8} {Size(r.SizeOnDisk),10} {r.FileCount,5}  {refs,-20}  {Source(r)}");
            }
            return 0;
        });

        var repoId = new Argument<string>("repo_id") { Description = "Repository id to remove from the cache" };
        var repoType = new Option<string>("--repo-type") { Description = "model or dataset", DefaultValueFactory = _ => "model" };
        repoType.AcceptOnlyFromAmong("model", "dataset", "space");
        var remove = new Command("remove", "Delete a repository's files from the cache.");
        remove.Arguments.Add(repoId);
        remove.Options.Add(repoType);
        remove.SetAction(parse =>
        {
            string id = parse.GetValue(repoId)!;
            var type = RepoTypes.Parse(parse.GetValue(repoType) ?? "model");
            if (!HubCache.Remove(id, type))
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {type.ToString().ToLowerInvariant()} '{id}' is not in the cache {HubSettings.FromEnvironment().CacheDir}.");
                return new FinetuneException(ErrorKind.NotFound, "").ExitCode;
            }
            parse.InvocationConfiguration.Output.WriteLine($"removed {type.ToString().ToLowerInvariant()} '{id}'");
            return 0;
        });

        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(remove);
        return cmd;
    }

    // Each snapshot's origin: converted from a NuGet package (its name says which), else downloaded from the Hub.
    private static string Source(CachedRepo r)
    {
        var sources = r.Commits.Select(c => PackagedModelCache.SourceOf(c) is { } package ? "converted from " + package : "Hub download").Distinct().ToArray();
        return sources.Length == 0 ? "-" : string.Join("; ", sources);
    }

    private static string Size(long bytes) =>
        bytes >= 1 << 30 ? $"{bytes / (double)(1 << 30):0.0} GiB"
        : bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.0} MiB"
        : bytes >= 1 << 10 ? $"{bytes / 1024.0:0.0} KiB"
        : $"{bytes} B";
}
