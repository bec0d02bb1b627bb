using System.CommandLine;
using Finetune.Peft;

namespace Finetune.Cli.Commands;

/// <summary>finetune merge: a LoRA adapter folder and its base model become one plain model folder (peft's merge_and_unload).</summary>
internal sealed class MergeCommand : ICliCommand
{
    // The tokenizer files a training run saves beside the adapter; copied so that the merged folder is complete.
    private static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "added_tokens.json"];

    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Adapter folder (adapter_config.json + adapter_model.safetensors); its base_model_name_or_path is loaded.", Required = true };
        var output = new Option<string>("--output") { Description = "Folder for the merged model (config.json + model.safetensors).", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub base model (default: main)." };
        var cmd = new Command("merge", "Merge a LoRA adapter into its base model and save a plain checkpoint whose logits equal the adapter model's.");
        cmd.Options.Add(model);
        cmd.Options.Add(output);
        cmd.Options.Add(revision);
        cmd.SetAction(parse =>
        {
            string adapter = parse.GetValue(model)!, outDir = parse.GetValue(output)!;
            if (!AdapterFolder.IsAdapter(adapter)) throw FinetuneException.Missing($"'{adapter}' has no {LoraConfig.AdapterConfigName}: not a LoRA adapter folder.");
            var err = parse.InvocationConfiguration.Error;
            var merged = AdapterFolder.LoadMerged(adapter, parse.GetValue(revision), m => err.WriteLine("warning: " + m));
            merged.SavePretrained(outDir);
            foreach (string f in TokenizerFiles)
                if (File.Exists(Path.Combine(adapter, f))) File.Copy(Path.Combine(adapter, f), Path.Combine(outDir, f), overwrite: true);
            parse.InvocationConfiguration.Output.WriteLine($"Merged {adapter} into {Path.GetFullPath(outDir)}");
            return 0;
        });
        return cmd;
    }
}
