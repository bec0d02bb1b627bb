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

    /// <summary>The dataset name and the options that say where its files come from, shared by info and head.</summary>
    private sealed class Source
    {
        private readonly Argument<string> _name = new("NAME_OR_PATH") { Description = "A known dataset (glue/mrpc), a data file, a folder of split files, a glob or a Hub dataset id (org/name)." };
        private readonly Option<string?> _root = new("--data-root") { Description = "Folder holding known datasets' files (default: FINETUNE_DATASETS or ../shared/datasets)." };
        private readonly Option<string?> _encoding = new("--encoding") { Description = "Text encoding of the files: utf-8 (default), latin-1, cp1252." };
        private readonly Option<string?> _revision = new("--revision") { Description = "Branch, tag or commit of a Hub dataset (default: main)." };
        private readonly Option<string?> _config = new("--config") { Description = "Configuration (subset) of a Hub dataset (default: its default one)." };

        public Command AddTo(Command cmd)
        {
            cmd.Arguments.Add(_name);
            cmd.Options.Add(_root);
            cmd.Options.Add(_encoding);
            cmd.Options.Add(_revision);
            cmd.Options.Add(_config);
            return cmd;
        }

        public DatasetDict Load(ParseResult parse) =>
            LoadDataset.Load(parse.GetValue(_name)!, parse.GetValue(_config), new LoadOptions
            {
                DataRoot = parse.GetValue(_root),
                Encoding = parse.GetValue(_encoding),
                Revision = parse.GetValue(_revision),
                Warning = m => parse.InvocationConfiguration.Error.WriteLine("warning: " + m),
            });
    }

    private static Command BuildInfo()
    {
        var source = new Source();
        var json = new Option<bool>("--json") { Description = "Print JSON: {\"splits\": {split: {num_rows, columns, label_counts}}}." };
        var cmd = source.AddTo(new Command("info", "Each split's row count, columns with their features, and label distribution."));
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            var dict = source.Load(parse);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(DatasetInfo.ToJson(dict).ToJsonString(Json));
            else output.Write(DatasetInfo.ToText(dict));
            return 0;
        });
        return cmd;
    }

    private static Command BuildHead()
    {
        var source = new Source();
        var split = new Option<string?>("--split") { Description = "Split to show (default: the first, usually train)." };
        var count = new Option<int>("-n", "--num-rows") { Description = "Rows to show.", DefaultValueFactory = _ => 5 };
        var cmd = source.AddTo(new Command("head", "Show the first rows of a split as JSON lines (label names in a `label_name` field)."));
        cmd.Options.Add(split);
        cmd.Options.Add(count);
        cmd.SetAction(parse =>
        {
            var dict = source.Load(parse);
            var ds = dict[parse.GetValue(split) ?? dict.Keys[0]];
            var output = parse.InvocationConfiguration.Output;
            int n = Math.Min(Math.Max(0, parse.GetValue(count)), ds.NumRows);
            for (int i = 0; i < n; i++) output.WriteLine(DatasetInfo.RowJson(ds, i).ToJsonString(Json));
            return 0;
        });
        return cmd;
    }
}
