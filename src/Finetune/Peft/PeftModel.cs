using System.Text.RegularExpressions;
using Finetune.Models;
using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Weights;

namespace Finetune.Peft;

/// <summary>
/// A model with LoRA adapters in place of its target Linear layers (peft's get_peft_model): the base parameters are
/// frozen (no gradient, so no optimizer state and no weight-gradient GEMM), the adapters and the modules to save
/// train. The model object itself is changed in place and keeps running its own code; this object knows which parts
/// are the adapter, saves them in peft's layout and merges them back.
/// </summary>
public sealed class PeftModel
{
    /// <summary>The prefix peft's PeftModel → LoraModel → base model wrapping puts before every saved key.</summary>
    public const string KeyPrefix = "base_model.model.";

    private readonly List<(Module Parent, string Name, LoraLinear Layer)> _adapted = new();
    private readonly List<string> _savedModules = new();
    private readonly List<Tensor> _frozen = new();

    private PeftModel(PreTrainedModel model, LoraConfig config)
    {
        Model = model;
        Config = config;
    }

    public PreTrainedModel Model { get; }
    public LoraConfig Config { get; }

    /// <summary>Dotted paths of the adapted Linear layers, in module order.</summary>
    public IEnumerable<string> AdaptedModules
    {
        get
        {
            foreach (var (_, _, layer) in _adapted) yield return PathOf(layer);
        }
    }

    /// <summary>Dotted paths of the modules trained whole and saved beside the adapters.</summary>
    public IReadOnlyList<string> SavedModules => _savedModules;

    /// <summary>
    /// Inserts adapters into <paramref name="model"/> (changed in place) as peft's get_peft_model: fills in the
    /// family's default targets, adds a sequence classifier's head to modules_to_save, freezes the rest.
    /// </summary>
    public static PeftModel GetPeftModel(PreTrainedModel model, LoraConfig config, Generator? rng = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        config.Validate();
        config.TargetModules ??= LoraConfig.DefaultTargetModules(model.Config.ModelType);
        // peft warns and turns fan_in_fan_out off for torch Linear layers, whose weights are already [out, in].
        config.FanInFanOut = false;
        if (config.TaskType == "SEQ_CLS")
        {
            var save = config.ModulesToSave?.ToList() ?? [];
            foreach (string head in LoraConfig.ClassifierModuleNames)
                if (!save.Contains(head)) save.Add(head);
            config.ModulesToSave = save;
        }
        var peft = new PeftModel(model, config);
        peft.Insert(rng);
        peft.Freeze();
        return peft;
    }

    /// <summary>peft's check_target_module_exists: a list entry matches the whole path or its last dotted parts; a "re:" entry is a full-match regex.</summary>
    internal static bool Matches(IReadOnlyList<string> names, string path)
    {
        foreach (string n in names)
        {
            if (n.StartsWith(LoraConfig.RegexPrefix, StringComparison.Ordinal))
            {
                if (Regex.IsMatch(path, "^(?:" + n[LoraConfig.RegexPrefix.Length..] + ")$", RegexOptions.CultureInvariant)) return true;
            }
            else if (path == n || path.EndsWith("." + n, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private void Insert(Generator? rng)
    {
        var modules = Model.NamedModules().ToList();
        var byPath = modules.ToDictionary(m => m.Name, m => m.Module, StringComparer.Ordinal);
        foreach (var (path, module) in modules)
        {
            if (path.Length == 0) continue;
            if (Config.ModulesToSave != null && Matches(Config.ModulesToSave, path) && !IsInside(path, _savedModules))
                _savedModules.Add(path);
            if (!Matches(Config.TargetModules!, path) || IsInside(path, _savedModules)) continue;
            if (module is not Linear linear || module is LoraLinear)
                throw new FinetuneException(ErrorKind.Unsupported,
                    $"LoRA target '{path}' is a {module.GetType().Name}; only Linear layers can be adapted.");
            int dot = path.LastIndexOf('.');
            Module parent = dot < 0 ? Model : byPath[path[..dot]];
            string name = path[(dot + 1)..];
            var layer = new LoraLinear(linear, Config, rng);
            parent.ReplaceChild(name, layer);
            _adapted.Add((parent, name, layer));
        }
        if (_adapted.Count == 0)
            throw FinetuneException.Invalid($"LoRA target modules [{string.Join(", ", Config.TargetModules!)}] were not found in the {Model.Config.ModelType} model.");
    }

    private static bool IsInside(string path, List<string> roots)
    {
        foreach (string r in roots)
            if (path == r || path.StartsWith(r + ".", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>peft's _mark_only_adapters_as_trainable plus modules_to_save: everything else stops requiring grad.</summary>
    private void Freeze()
    {
        var trainable = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, _, layer) in _adapted)
        {
            trainable.Add(layer.LoraA.Weight);
            trainable.Add(layer.LoraB.Weight);
            if (Config.Bias == "lora_only" && layer.Bias != null) trainable.Add(layer.Bias);
        }
        foreach (var (name, p) in Model.NamedParameters())
        {
            if (Config.Bias == "all" && name.Contains("bias", StringComparison.Ordinal)) trainable.Add(p);
            if (IsInside(name, _savedModules)) trainable.Add(p);
        }
        foreach (var (_, p) in Model.NamedParameters())
            if (!trainable.Contains(p) && p.RequiresGrad)
            {
                p.RequiresGrad = false;
                p.Grad = null;
                _frozen.Add(p);
            }
    }

    private string PathOf(Module m)
    {
        foreach (var (path, module) in Model.NamedModules())
            if (ReferenceEquals(module, m)) return path;
        throw new InvalidOperationException("An adapted layer is no longer part of the model.");
    }

    /// <summary>
    /// The parameters peft's get_peft_model_state_dict returns, under its keys (adapter name removed): lora_A/lora_B of
    /// every adapted layer; with bias "all" every key containing "bias" (an adapted layer's own bias under
    /// base_layer); with "lora_only" nothing more, since peft looks for the bias beside lora_A rather than under
    /// base_layer and finds none; and every parameter of the modules to save under its plain path.
    /// </summary>
    public IReadOnlyList<(string Key, Tensor Value)> AdapterStateDict()
    {
        var result = new List<(string, Tensor)>();
        var adaptedPaths = new HashSet<string>(AdaptedModules, StringComparer.Ordinal);
        foreach (var (name, p) in Model.NamedParameters())
        {
            string key = KeyPrefix + PeftName(name, adaptedPaths);
            if (IsInside(name, _savedModules)) result.Add((KeyPrefix + name, p));
            else if (key.Contains("lora_", StringComparison.Ordinal)) result.Add((key, p));
            else if (Config.Bias == "all" && key.Contains("bias", StringComparison.Ordinal)) result.Add((key, p));
        }
        return result;
    }

    /// <summary>Our parameter name in peft's model: an adapted layer's own weight and bias sit under its base_layer.</summary>
    private static string PeftName(string name, HashSet<string> adaptedPaths)
    {
        int dot = name.LastIndexOf('.');
        return dot > 0 && adaptedPaths.Contains(name[..dot]) ? name[..dot] + ".base_layer" + name[dot..] : name;
    }

    /// <summary>save_pretrained: adapter_config.json and adapter_model.safetensors in <paramref name="directory"/>.</summary>
    public void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        var tensors = AdapterStateDict().Select(t => new NamedTensor(t.Key, (int[])t.Value.Shape.Clone(), t.Value.ToArray())).ToList();
        SafeTensors.Write(Path.Combine(directory, LoraConfig.AdapterWeightsName), tensors, metadata: new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(directory, LoraConfig.AdapterConfigName),
            Config.ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Adapts <paramref name="baseModel"/> (changed in place) with the adapter saved in <paramref name="adapterDirectory"/>.</summary>
    public static PeftModel FromPretrained(PreTrainedModel baseModel, string adapterDirectory)
    {
        var config = LoraConfig.Load(adapterDirectory);
        var peft = GetPeftModel(baseModel, config, new Generator(0));
        peft.LoadAdapter(Path.Combine(adapterDirectory, LoraConfig.AdapterWeightsName));
        return peft;
    }

    /// <summary>
    /// Copies an adapter_model.safetensors into the adapters and saved modules (peft's set_peft_model_state_dict): a
    /// key outside the model, a wrong shape, or an adapter tensor the file lacks is an error naming it.
    /// </summary>
    public void LoadAdapter(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"Adapter weights '{path}' do not exist.");
        using var src = Checkpoint.OpenFile(path);
        var expected = AdapterStateDict().ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
        var adaptedPaths = new HashSet<string>(AdaptedModules, StringComparer.Ordinal);
        var all = Model.NamedParameters().ToDictionary(p => KeyPrefix + PeftName(p.Name, adaptedPaths), p => p.Value, StringComparer.Ordinal);
        foreach (string key in src.Names)
        {
            if (!all.TryGetValue(key, out var p))
                throw FinetuneException.Invalid($"'{path}' holds '{key}', which is no parameter of the adapted {Model.Config.ModelType} model.");
            var info = src.Info(key);
            if (!info.Shape.AsSpan().SequenceEqual(p.Shape))
                throw FinetuneException.Invalid($"Tensor '{key}' in '{path}' is {info.ShapeText} but the model expects {Tensor.ShapeString(p.Shape)}.");
            src.CopyTo(key, p.Span);
        }
        foreach (string key in expected.Keys)
            if (key.Contains("lora_", StringComparison.Ordinal) && !src.Contains(key))
                throw FinetuneException.Invalid($"'{path}' has no tensor '{key}' for the adapter.");
    }

    /// <summary>
    /// peft's merge_and_unload: every adapted layer becomes a plain Linear with weight W + scaling·B·A (its bias kept),
    /// the frozen parameters require grad again, and the model, now free of adapters, is returned.
    /// </summary>
    public PreTrainedModel MergeAndUnload()
    {
        foreach (var (parent, name, layer) in _adapted)
            parent.ReplaceChild(name, new Linear(layer.MergedWeight(), layer.Bias));
        _adapted.Clear();
        foreach (var p in _frozen) p.RequiresGrad = true;
        _frozen.Clear();
        return Model;
    }
}
