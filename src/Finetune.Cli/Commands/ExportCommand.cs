using System.CommandLine;
using Finetune.Models;
using Finetune.Onnx;

namespace Finetune.Cli.Commands;

/// <summary>`finetune export onnx`: a model folder as an ONNX graph for ONNX Runtime, Triton or the browser.</summary>
internal sealed class ExportCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Model folder or Hub model id.", Required = true };
        var output = new Option<string>("--output") { Description = "The .onnx file to write.", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub model (default: main)." };
        var onnx = new Command("onnx", "Write the model as ONNX (opset 17, dynamic batch and sequence axes, int64 input_ids/attention_mask/token_type_ids; output logits, or last_hidden_state for a bare encoder).");
        onnx.Options.Add(model);
        onnx.Options.Add(output);
        onnx.Options.Add(revision);
        onnx.SetAction(parse =>
        {
            string dir = parse.GetValue(model)!, path = parse.GetValue(output)!;
            string? rev = parse.GetValue(revision);
            var config = AutoConfig.FromPretrained(dir, rev);
            // A folder saved from a *ForSequenceClassification model keeps its head; anything else is the bare encoder.
            bool classifier = config.Architectures?.Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) == true;
            PreTrainedModel m = classifier
                ? AutoModelForSequenceClassification.FromPretrained(dir, revision: rev)
                : AutoModel.FromPretrained(dir, new FromPretrainedOptions { Revision = rev });
            OnnxExport.Export(m, path);
            parse.InvocationConfiguration.Output.WriteLine($"Wrote {path} ({m.ArchitectureName}, output {(classifier ? "logits" : "last_hidden_state")}).");
            return 0;
        });
        var cmd = new Command("export", "Export a model to another format.");
        cmd.Subcommands.Add(onnx);
        return cmd;
    }
}
