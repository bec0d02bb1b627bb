using System.CommandLine;
using Finetune.Hub;
using Finetune.Models;
using Finetune.Onnx;
using Finetune.Weights;

namespace Finetune.Cli.Commands;

/// <summary>
/// `finetune convert`: load a model in any supported format (a Hugging Face folder, or an encoder's ONNX export) and
/// save it as config.json + model.safetensors with its tokenizer files.
/// </summary>
internal sealed class ConvertCommand : ICliCommand
{
    /// <summary>Tokenizer files carried over unchanged so the converted folder stays usable on its own.</summary>
    private static readonly string[] TokenizerFiles =
    {
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
        "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
    };

    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Model folder (safetensors, sharded safetensors or pytorch_model.bin), Hub model id, or an ONNX export of BERT, DistilBERT, RoBERTa, ALBERT or ELECTRA (model.onnx, or a folder with model.onnx or onnx/model.onnx).", Required = true };
        var config = new Option<string?>("--config") { Description = "config.json to use for an ONNX model instead of the one it embeds or the one inferred from its graph." };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub model (default: main)." };
        var output = new Option<string>("--output") { Description = "Folder to write config.json + model.safetensors into.", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Storage type of the weights: f32, f16 or bf16.", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var cmd = new Command("convert", "Convert a Hugging Face model folder to safetensors (optionally f16/bf16).");
        cmd.Options.Add(model);
        cmd.Options.Add(output);
        cmd.Options.Add(dtype);
        var ignoreMismatched = new Option<bool>("--ignore-mismatched-sizes") { Description = "Re-initialise weights whose checkpoint shape differs instead of failing (they will be random)." };
        var allowNew = new Option<bool>("--allow-new-weights") { Description = "Convert even when the checkpoint leaves weights random or unused (those are written random or dropped)." };
        cmd.Options.Add(revision);
        cmd.Options.Add(config);
        cmd.Options.Add(ignoreMismatched);
        cmd.Options.Add(allowNew);
        cmd.SetAction(parse =>
        {
            string src = parse.GetValue(model)!, dst = parse.GetValue(output)!;
            DType type = parse.GetValue(dtype) switch { "f16" => DType.F16, "bf16" => DType.BF16, _ => DType.F32 };
            if (Path.GetFullPath(src).TrimEnd('/') == Path.GetFullPath(dst).TrimEnd('/'))
                throw FinetuneException.Invalid($"--output must differ from --model ('{src}').");
            if (OnnxImport.IsOnnxModel(src))
            {
                long parameters = OnnxImport.ToPretrainedFolder(src, dst, parse.GetValue(config), type);
                string architecture = AutoConfig.FromPretrained(dst).Architectures?.FirstOrDefault() ?? "the model";
                parse.InvocationConfiguration.Output.WriteLine($"Saved {architecture} ({parameters} parameters, {type}) from ONNX to {dst}.");
                return 0;
            }
            if (parse.GetValue(config) != null) throw FinetuneException.Invalid("--config applies to ONNX models only.");
            // A Hub id becomes its cached snapshot, tokenizer files included, so they are carried over too.
            src = NameOrPath.ResolveModel(src, ModelFiles.All, parse.GetValue(revision));
            var err = parse.InvocationConfiguration.Error;
            bool ignore = parse.GetValue(ignoreMismatched);
            var options = new FromPretrainedOptions { IgnoreMismatchedSizes = ignore, AllowNewWeights = parse.GetValue(allowNew), Log = w => err.WriteLine("warning: " + w) };
            var srcConfig = AutoConfig.FromPretrained(src);
            bool classifier = srcConfig.Architectures?.Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) ?? false;
            PreTrainedModel loaded = classifier
                ? AutoModelForSequenceClassification.FromPretrained(src, options, out var report)
                : AutoModel.FromPretrained(src, options, out report);
            report.EnsureFits(loaded.ArchitectureName, src, training: false, parse.GetValue(allowNew), ignore);
            loaded.SavePretrained(dst, type);
            foreach (string f in TokenizerFiles)
            {
                string from = Path.Combine(src, f);
                if (File.Exists(from)) AtomicFile.WriteAllBytes(Path.Combine(dst, f), File.ReadAllBytes(from));
            }
            parse.InvocationConfiguration.Output.WriteLine($"Saved {loaded.ArchitectureName} ({loaded.NumParameters()} parameters, {type}) to {dst}.");
            return 0;
        });
        return cmd;
    }
}
