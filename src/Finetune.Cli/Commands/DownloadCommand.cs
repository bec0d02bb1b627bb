using System.CommandLine;
using Finetune.Hub;
using Spectre.Console;

namespace Finetune.Cli.Commands;

// `finetune download REPO_ID [FILES...]`: fills the shared Hugging Face cache (the one Python uses) and prints the
// snapshot folder. Without FILES a model gets what Finetune needs (config, weights, tokenizer files) and a
// dataset its data files.
internal sealed class DownloadCommand : ICliCommand
{
    public Command Build()
    {
        var repoId = new Argument<string>("repo_id") { Description = "Hub repository id, e.g. bert-base-uncased or stanfordnlp/imdb" };
        var files = new Argument<string[]>("files") { Description = "Particular files to fetch (default: what Finetune needs)", Arity = ArgumentArity.ZeroOrMore };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit (default: main)" };
        var repoType = new Option<string>("--repo-type") { Description = "model or dataset", DefaultValueFactory = _ => "model" };
        repoType.AcceptOnlyFromAmong("model", "dataset", "space");
        var config = new Option<string?>("--config") { Description = "Dataset configuration (e.g. sst2 of nyu-mll/glue)" };

        var cmd = new Command("download", "Download a model or dataset from the Hugging Face Hub into the shared cache and print its folder.");
        cmd.Arguments.Add(repoId);
        cmd.Arguments.Add(files);
        cmd.Options.Add(revision);
        cmd.Options.Add(repoType);
        cmd.Options.Add(config);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var client = new HubClient();
            string folder = WithProgress(client, output, () => Run(client, parse.GetValue(repoId)!, parse.GetValue(files) ?? [],
                parse.GetValue(revision), RepoTypes.Parse(parse.GetValue(repoType) ?? "model"), parse.GetValue(config)));
            output.WriteLine(folder);
            return 0;
        });
        return cmd;
    }

    private static string Run(HubClient client, string repoId, string[] files, string? revision, RepoType type, string? config)
    {
        if (files.Length > 0)
        {
            string? first = null;
            foreach (string f in files)
            {
                string path = client.Download(repoId, f, revision, type);
                first ??= path;
            }
            // The snapshot folder: strip the first file's own path from its cached path.
            string dir = first!;
            for (int i = files[0].Split('/').Length; i > 0; i--) dir = Path.GetDirectoryName(dir)!;
            return dir;
        }
        return type == RepoType.Dataset ? client.ResolveDataset(repoId, revision, config).Folder : client.ResolveModel(repoId, revision);
    }

    // A Spectre.Console bar per file on a terminal; one plain line per finished file when output is redirected.
    private static string WithProgress(HubClient client, TextWriter output, Func<string> work)
    {
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (!terminal)
        {
            client.Progress = p => { if (p.Done) output.WriteLine($"downloaded {p.Filename} ({p.BytesDownloaded} bytes)"); };
            return work();
        }
        string result = "";
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                client.Progress = p =>
                {
                    if (!tasks.TryGetValue(p.Filename, out var task))
                        tasks[p.Filename] = task = ctx.AddTask(Markup.Escape(p.Filename), maxValue: Math.Max(1, p.TotalBytes ?? 1));
                    task.Value = p.BytesDownloaded;
                    if (p.Done) task.StopTask();
                };
                result = work();
            });
        return result;
    }
}
