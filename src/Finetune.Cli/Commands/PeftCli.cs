using System.CommandLine;
using Finetune.Peft;
using Finetune.Cli.Recipes;
using Finetune.Training;

namespace Finetune.Cli.Commands;

/// <summary>train's LoRA and freezing options (peft's LoraConfig fields under kebab-case names).</summary>
internal sealed class PeftCli
{
    private readonly Option<bool> lora = new("--lora") { Description = "Train LoRA adapters (peft) beside the frozen model; the output folder holds adapter_config.json + adapter_model.safetensors." };
    private readonly Option<int> r = new("--lora-r") { Description = "LoRA rank r.", DefaultValueFactory = _ => 8 };
    private readonly Option<double> alpha = new("--lora-alpha") { Description = "LoRA alpha (the update is scaled by alpha/r).", DefaultValueFactory = _ => 8 };
    private readonly Option<double> dropout = new("--lora-dropout") { Description = "Dropout on the adapters' input.", DefaultValueFactory = _ => 0 };
    private readonly Option<string?> targets = new("--lora-target-modules") { Description = "Comma-separated Linear module names to adapt (default per family as peft: query,value; DistilBERT q_lin,v_lin)." };
    private readonly Option<bool> freezeBase = new("--freeze-base") { Description = "Freeze the encoder: train the classification head only." };
    private readonly Option<bool> freezeEmbeddings = new("--freeze-embeddings") { Description = "Freeze the embeddings." };
    private readonly Option<string?> freezeLayers = new("--freeze-layers") { Description = "Freeze encoder layers N-M (0-based, inclusive), e.g. 0-5." };

    public void AddTo(Command cmd)
    {
        foreach (Option o in new Option[] { lora, r, alpha, dropout, targets, freezeBase, freezeEmbeddings, freezeLayers }) cmd.Options.Add(o);
    }

    public void Bind(ParseResult parse, RecipeOptions recipe)
    {
        recipe.FreezeBase = parse.GetValue(freezeBase);
        recipe.FreezeEmbeddings = parse.GetValue(freezeEmbeddings);
        recipe.FreezeLayers = parse.GetValue(freezeLayers);
        if (!parse.GetValue(lora)) return;
        var config = new LoraConfig { R = parse.GetValue(r), LoraAlpha = parse.GetValue(alpha), LoraDropout = parse.GetValue(dropout) };
        if (parse.GetValue(targets) is string t) config.TargetModules = t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        config.Validate();
        recipe.Lora = config;
    }
}
