using System.Text.Json.Nodes;

namespace Finetune.Peft;

/// <summary>
/// peft's LoraConfig under its JSON names (adapter_config.json): rank <see cref="R"/>, scale
/// <see cref="LoraAlpha"/>/r (or /√r with <see cref="UseRslora"/>), dropout on the input of A, which Linear layers
/// get adapters (<see cref="TargetModules"/>, per family when null), which biases train (<see cref="Bias"/>) and which
/// whole modules train and are saved beside the adapters (<see cref="ModulesToSave"/>; a sequence classifier's
/// "classifier" and "score" are always added, as peft's PeftModelForSequenceClassification does).
/// </summary>
public sealed class LoraConfig
{
    public const string AdapterConfigName = "adapter_config.json";
    public const string AdapterWeightsName = "adapter_model.safetensors";

    /// <summary>The heads peft's sequence-classification wrapper adds to modules_to_save.</summary>
    public static readonly IReadOnlyList<string> ClassifierModuleNames = ["classifier", "score"];

    public int R { get; set; } = 8;
    public double LoraAlpha { get; set; } = 8;
    public double LoraDropout { get; set; }
    /// <summary>Module names matched as peft does: equal to, or the last dotted part(s) of, a module's path.</summary>
    public IReadOnlyList<string>? TargetModules { get; set; }
    /// <summary>"none", "all" (every bias trains) or "lora_only" (biases of adapted layers train).</summary>
    public string Bias { get; set; } = "none";
    public IReadOnlyList<string>? ModulesToSave { get; set; }
    /// <summary>true: A Kaiming-uniform (a = √5), B zeros; "gaussian": A ~ N(0, 1/r²), B zeros; false: both random (not a no-op).</summary>
    public string InitLoraWeights { get; set; } = "true";
    public bool UseRslora { get; set; }
    /// <summary>For Conv1D-style [in, out] weights (GPT-2); peft turns it off for torch Linear layers, and so do we.</summary>
    public bool FanInFanOut { get; set; }
    public string TaskType { get; set; } = "SEQ_CLS";
    public string? BaseModelNameOrPath { get; set; }

    /// <summary>peft's multiplier of B·A: alpha/r, or alpha/√r for rank-stabilised LoRA.</summary>
    public double Scaling => UseRslora ? LoraAlpha / Math.Sqrt(R) : LoraAlpha / R;

    /// <summary>peft's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for the encoder families of this library.</summary>
    public static IReadOnlyList<string> DefaultTargetModules(string modelType) => modelType switch
    {
        "bert" or "roberta" or "xlm-roberta" or "electra" or "albert" or "deberta" or "deberta-v2" or "camembert" => ["query", "value"],
        "distilbert" => ["q_lin", "v_lin"],
        _ => throw new FinetuneException(ErrorKind.Unsupported,
            $"peft has no default LoRA target modules for model_type '{modelType}'; name them (--lora-target-modules)."),
    };

    /// <summary>Checks the values peft checks (r > 0, a known bias mode, a known init) and fails naming the field.</summary>
    public void Validate()
    {
        if (R <= 0) throw FinetuneException.Invalid($"LoRA r must be positive, got {R}.");
        if (LoraDropout < 0 || LoraDropout >= 1) throw FinetuneException.Invalid($"lora_dropout must be in [0, 1), got {LoraDropout}.");
        if (Bias is not ("none" or "all" or "lora_only")) throw FinetuneException.Invalid($"LoRA bias must be none, all or lora_only, got '{Bias}'.");
        if (InitLoraWeights is not ("true" or "false" or "gaussian"))
            throw new FinetuneException(ErrorKind.Unsupported, $"init_lora_weights '{InitLoraWeights}' is not supported (true, false or gaussian).");
    }

    /// <summary>adapter_config.json as peft writes it: its LoraConfig fields, those this library does not use at their defaults.</summary>
    public JsonObject ToJson()
    {
        JsonNode? init = InitLoraWeights switch { "true" => true, "false" => false, _ => InitLoraWeights };
        return new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = BaseModelNameOrPath,
            ["bias"] = Bias,
            ["exclude_modules"] = null,
            ["fan_in_fan_out"] = FanInFanOut,
            ["inference_mode"] = true,
            ["init_lora_weights"] = init,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["loftq_config"] = new JsonObject(),
            ["lora_alpha"] = JsonNumber(LoraAlpha),
            ["lora_bias"] = false,
            ["lora_dropout"] = LoraDropout,
            ["megatron_config"] = null,
            ["megatron_core"] = "megatron.core",
            ["modules_to_save"] = ModulesToSave != null ? new JsonArray([.. ModulesToSave.Select(m => (JsonNode?)m)]) : null,
            ["peft_type"] = "LORA",
            ["r"] = R,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = TargetModules switch
            {
                null => null,
                [string one] when one.StartsWith(RegexPrefix, StringComparison.Ordinal) => one[RegexPrefix.Length..],
                _ => new JsonArray([.. TargetModules.Select(m => (JsonNode?)m)]),
            },
            ["task_type"] = TaskType,
            ["use_dora"] = false,
            ["use_rslora"] = UseRslora,
        };
    }

    private static JsonNode JsonNumber(double v) => v == Math.Floor(v) && Math.Abs(v) < 1e15 ? JsonValue.Create((long)v) : JsonValue.Create(v);

    /// <summary>Reads adapter_config.json; a feature this library cannot apply (DoRA, rank patterns, layer subsets) is an Unsupported error.</summary>
    public static LoraConfig Load(string directory)
    {
        string path = Path.Combine(directory, AdapterConfigName);
        if (!File.Exists(path)) throw FinetuneException.Missing($"'{directory}' has no {AdapterConfigName}.");
        if (SafeJson.ParseFile(path) is not JsonObject o) throw FinetuneException.Invalid($"'{path}' is not a JSON object.");
        string peftType = o["peft_type"]?.GetValue<string>() ?? "";
        if (peftType != "LORA") throw new FinetuneException(ErrorKind.Unsupported, $"'{path}': peft_type '{peftType}' is not supported (LORA only).");
        Unsupported(o, path, "use_dora", n => n.GetValueKind() == System.Text.Json.JsonValueKind.True);
        Unsupported(o, path, "lora_bias", n => n.GetValueKind() == System.Text.Json.JsonValueKind.True);
        Unsupported(o, path, "rank_pattern", n => n is JsonObject r && r.Count > 0);
        Unsupported(o, path, "alpha_pattern", n => n is JsonObject a && a.Count > 0);
        Unsupported(o, path, "layers_to_transform", _ => true);
        Unsupported(o, path, "layer_replication", _ => true);
        var c = new LoraConfig
        {
            R = o["r"]?.GetValue<int>() ?? 8,
            LoraAlpha = o["lora_alpha"]?.GetValue<double>() ?? 8,
            LoraDropout = o["lora_dropout"]?.GetValue<double>() ?? 0,
            Bias = o["bias"]?.GetValue<string>() ?? "none",
            UseRslora = o["use_rslora"]?.GetValue<bool>() ?? false,
            FanInFanOut = o["fan_in_fan_out"]?.GetValue<bool>() ?? false,
            TaskType = o["task_type"]?.GetValue<string>() ?? "SEQ_CLS",
            BaseModelNameOrPath = o["base_model_name_or_path"]?.GetValue<string>(),
            TargetModules = Names(o["target_modules"], path),
            ModulesToSave = Names(o["modules_to_save"], path),
            InitLoraWeights = o["init_lora_weights"] switch
            {
                null => "true",
                JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.True => "true",
                JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.False => "false",
                JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
                _ => "unknown",
            },
        };
        c.Validate();
        return c;
    }

    private static void Unsupported(JsonObject o, string path, string field, Func<JsonNode, bool> used)
    {
        if (o[field] is { } n && used(n))
            throw new FinetuneException(ErrorKind.Unsupported, $"'{path}': {field} {n.ToJsonString()} is not supported.");
    }

    private static IReadOnlyList<string>? Names(JsonNode? n, string path) => n switch
    {
        null => null,
        JsonArray a => [.. a.Select(x => x?.GetValue<string>() ?? throw FinetuneException.Invalid($"'{path}': a module name is null."))],
        // A string is a regular expression matched against whole module paths (peft's re.fullmatch).
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => [RegexPrefix + v.GetValue<string>()],
        _ => throw FinetuneException.Invalid($"'{path}': module names must be a list or a string."),
    };

    /// <summary>Marks a target given as one regular expression (peft's str target_modules) rather than a list of names.</summary>
    internal const string RegexPrefix = "re:";
}
