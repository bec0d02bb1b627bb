using System.CommandLine;
using System.Text.Json;
using Finetune.Data;

namespace Finetune.Cli.Commands;

/// <summary>`finetune dataset info|head NAME_OR_PATH`: what a notebook prints for a loaded DatasetDict.</summary>
internal sealed class DatasetCommand : ICliCommand
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Command Build()
    {
        var cmd = new Command("dataset", "Inspect a dataset: a known name (rotten_tomatoes, glue/mrpc, imdb, ...), a data file, a folder or a Hub dataset id.");
        cmd.Subcommands.Add(BuildInfo());
        cmd.Subcommands.Add(BuildHead());
        return cmd;
    }

    private static Argument<string> NameArgument() => new("NAME_OR_PATH") { Description = "A known dataset (glue/mrpc), a data file, a folder of split files, a glob or a Hub dataset id (org/name)." };

    private static Option<string?> RevisionOption() => new("--revision") { Description = "Branch, tag or commit of a Hub dataset (default: main)." };

    private static Option<string?> ConfigOption() => new("--config") { Description = "Configuration (subset) of a Hub dataset (default: its default one)." };

    private static Option<string?> DataRootOption() => new("--data-root") { Description = "Folder holding known datasets' files (default: FINETUNE_DATASETS or ../shared/datasets)." };

    private static Option<string?> EncodingOption() => new("--encoding") { Description = "Text encoding of the files: utf-8 (default), latin-1, cp1252." };

    private static DatasetDict Load(ParseResult parse, Argument<string> name, Option<string?> root, Option<string?> encoding,
        Option<string?> revision, Option<string?> config) =>
        LoadDataset.Load(parse.GetValue(name)!, parse.GetValue(config), new LoadOptions
        {
            DataRoot = parse.GetValue(root),
            Encoding = parse.GetValue(encoding),
            Revision = parse.GetValue(revision),
            Warning = m => parse.InvocationConfiguration.Error.WriteLine("warning: " + m),
        });

    private static Command BuildInfo()
    {
        var name = NameArgument();
        var json = new Option<bool>("--json") { Description = "Print JSON: {\"splits\": {split: {num_rows, columns, label_counts}}}." };
        var root = DataRootOption();
        var encoding = EncodingOption();
        var revision = RevisionOption();
        var config = ConfigOption();
        var cmd = new Command("info", "Each split's row count, columns with their features, and label distribution.");
        cmd.Arguments.Add(name);
        cmd.Options.Add(json);
        cmd.Options.Add(root);
        cmd.Options.Add(encoding);
        cmd.Options.Add(revision);
        cmd.Options.Add(config);
        cmd.SetAction(parse =>
        {
            var dict = Load(parse, name, root, encoding, revision, config);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(DatasetInfo.ToJson(dict).ToJsonString(Json));
            else output.Write(DatasetInfo.ToText(dict));
            return 0;
        });
        return cmd;
    }

    private static Command BuildHead()
    {
        var name = NameArgument();
        var split = new Option<string?>("--split") { Description = "Split to show (default: the first, usually train)." };
        var count = new Option<int>("-n", "--num-rows") { Description = "Rows to show.", DefaultValueFactory = _ => 5 };
        var root = DataRootOption();
        var encoding = EncodingOption();
        var revision = RevisionOption();
        var config = ConfigOption();
        var cmd = new Command("head", "Show the first rows of a split as JSON lines (label names in a `label_name` field).");
        cmd.Arguments.Add(name);
        cmd.Options.Add(split);
        cmd.Options.Add(count);
        cmd.Options.Add(root);
        cmd.Options.Add(encoding);
        cmd.Options.Add(revision);
        cmd.Options.Add(config);
        cmd.SetAction(parse =>
        {
            var dict = Load(parse, name, root, encoding, revision, config);
            var ds = dict[parse.GetValue(split) ?? dict.Keys[0]];
            var output = parse.InvocationConfiguration.Output;
            int n = Math.Min(Math.Max(0, parse.GetValue(count)), ds.NumRows);
            for (int i = 0; i < n; i++) output.WriteLine(DatasetInfo.RowJson(ds, i).ToJsonString(Json));
            return 0;
        });
        return cmd;
    }
}
