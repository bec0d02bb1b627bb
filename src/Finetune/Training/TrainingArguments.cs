using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Training;

/// <summary>When to evaluate, save or log (transformers' IntervalStrategy: "no", "steps", "epoch").</summary>
public enum IntervalStrategy
{
    No,
    Steps,
    Epoch,
}

/// <summary>How training rows are ordered each epoch.</summary>
public enum TrainSamplingStrategy
{
    /// <summary>A fresh seeded shuffle every epoch (transformers' RandomSampler).</summary>
    Random,
    /// <summary>Rows in dataset order (the golden trajectories' SequentialSampler).</summary>
    Sequential,
    /// <summary>Megabatches of similar length, as transformers' LengthGroupedSampler.</summary>
    GroupByLength,
}

/// <summary>
/// The training configuration, with transformers' TrainingArguments names in .NET casing and transformers'
/// defaults. Loads from the JSON transformers writes (<c>training_args.json</c>, snake_case keys; unknown keys
/// are ignored) and from YAML with the same keys.
/// </summary>
public sealed class TrainingArguments
{
    public string OutputDir { get; set; } = "trainer_output";
    public bool OverwriteOutputDir { get; set; }
    public double NumTrainEpochs { get; set; } = 3.0;
    public int MaxSteps { get; set; } = -1;
    public int PerDeviceTrainBatchSize { get; set; } = 8;
    public int PerDeviceEvalBatchSize { get; set; } = 8;
    public int GradientAccumulationSteps { get; set; } = 1;
    public double LearningRate { get; set; } = 5e-5;
    public double WeightDecay { get; set; }
    public double AdamBeta1 { get; set; } = 0.9;
    public double AdamBeta2 { get; set; } = 0.999;
    public double AdamEpsilon { get; set; } = 1e-8;
    public double MaxGradNorm { get; set; } = 1.0;
    /// <summary>"adamw_torch" (default), "adam" or "sgd" (momentum from <see cref="SgdMomentum"/>).</summary>
    public string Optim { get; set; } = "adamw_torch";
    public double SgdMomentum { get; set; }
    public SchedulerType LrSchedulerType { get; set; } = SchedulerType.Linear;
    /// <summary>Extra arguments of the schedule (transformers' lr_scheduler_kwargs): num_cycles, lr_end, power.</summary>
    public Dictionary<string, double> LrSchedulerKwargs { get; set; } = new();
    public double WarmupRatio { get; set; }
    public int WarmupSteps { get; set; }
    public IntervalStrategy EvalStrategy { get; set; } = IntervalStrategy.No;
    /// <summary>Steps between evaluations; below 1 it is a ratio of the total steps; null means LoggingSteps.</summary>
    public double? EvalSteps { get; set; }
    public double EvalDelay { get; set; }
    public IntervalStrategy SaveStrategy { get; set; } = IntervalStrategy.Steps;
    public double SaveSteps { get; set; } = 500;
    public int? SaveTotalLimit { get; set; }
    public bool SaveSafetensors { get; set; } = true;
    public IntervalStrategy LoggingStrategy { get; set; } = IntervalStrategy.Steps;
    public double LoggingSteps { get; set; } = 500;
    public bool LoggingFirstStep { get; set; }
    public bool LoggingNanInfFilter { get; set; } = true;
    public string? LoggingDir { get; set; }
    public bool LoadBestModelAtEnd { get; set; }
    public string? MetricForBestModel { get; set; }
    public bool? GreaterIsBetter { get; set; }
    public int Seed { get; set; } = 42;
    public int? DataSeed { get; set; }
    public double LabelSmoothingFactor { get; set; }
    public bool GroupByLength { get; set; }
    public TrainSamplingStrategy TrainSamplingStrategy { get; set; } = TrainSamplingStrategy.Random;
    public bool DataloaderDropLast { get; set; }
    public string? ResumeFromCheckpoint { get; set; }
    public bool DisableTqdm { get; set; }
    public bool PredictionLossOnly { get; set; }
    public string? RunName { get; set; }

    /// <summary>The warmup steps transformers uses: WarmupSteps if positive, else ceil(total * WarmupRatio).</summary>
    public int GetWarmupSteps(int numTrainingSteps) =>
        WarmupSteps > 0 ? WarmupSteps : (int)Math.Ceiling(numTrainingSteps * WarmupRatio);

    /// <summary>Samples per optimizer step (one device).</summary>
    public int TotalTrainBatchSize => PerDeviceTrainBatchSize * GradientAccumulationSteps;

    /// <summary>The sampling order in effect: GroupByLength wins over TrainSamplingStrategy, as in transformers.</summary>
    public TrainSamplingStrategy EffectiveSampling => GroupByLength ? TrainSamplingStrategy.GroupByLength : TrainSamplingStrategy;

    /// <summary>EvalSteps, defaulting to LoggingSteps as transformers' __post_init__ does.</summary>
    public double EffectiveEvalSteps => EvalSteps ?? LoggingSteps;

    /// <summary>Metric compared for the best checkpoint ("loss" when LoadBestModelAtEnd and none is set).</summary>
    public string? EffectiveMetricForBestModel => MetricForBestModel ?? (LoadBestModelAtEnd ? "loss" : null);

    public bool EffectiveGreaterIsBetter
    {
        get
        {
            if (GreaterIsBetter is bool g) return g;
            string? m = EffectiveMetricForBestModel;
            return m != null && m != "loss" && m != "eval_loss";
        }
    }

    /// <summary>Checks the combinations transformers rejects; throws FinetuneException naming the field.</summary>
    public void Validate()
    {
        Require(PerDeviceTrainBatchSize > 0, "per_device_train_batch_size must be positive");
        Require(PerDeviceEvalBatchSize > 0, "per_device_eval_batch_size must be positive");
        Require(GradientAccumulationSteps > 0, "gradient_accumulation_steps must be positive");
        Require(LearningRate >= 0, "learning_rate must not be negative");
        Require(WarmupRatio >= 0 && WarmupRatio <= 1, "warmup_ratio must lie in [0, 1]");
        foreach (string key in LrSchedulerKwargs.Keys)
            Require(LrScheduler.KwargsOf(LrSchedulerType).Contains(key),
                $"lr_scheduler_kwargs has '{key}', which the {LrScheduler.TypeName(LrSchedulerType)} schedule does not take (it takes {(LrScheduler.KwargsOf(LrSchedulerType).Count == 0 ? "none" : string.Join(", ", LrScheduler.KwargsOf(LrSchedulerType)))})");
        // get_polynomial_decay_schedule_with_warmup's check, made before any data is read.
        if (LrSchedulerType == SchedulerType.Polynomial && LrSchedulerKwargs.TryGetValue("lr_end", out double lrEnd))
            Require(LearningRate > lrEnd, $"lr_end ({lrEnd.ToString(CultureInfo.InvariantCulture)}) must be smaller than the initial learning_rate ({LearningRate.ToString(CultureInfo.InvariantCulture)})");
        Require(MaxSteps > 0 || NumTrainEpochs > 0, "num_train_epochs or max_steps must be positive");
        Require(EvalStrategy != IntervalStrategy.Steps || EffectiveEvalSteps > 0, "eval_strategy 'steps' needs eval_steps (or logging_steps) > 0");
        Require(LoggingStrategy != IntervalStrategy.Steps || LoggingSteps > 0, "logging_strategy 'steps' needs logging_steps > 0");
        Require(SaveStrategy != IntervalStrategy.Steps || SaveSteps > 0, "save_strategy 'steps' needs save_steps > 0");
        Require(LabelSmoothingFactor >= 0 && LabelSmoothingFactor < 1, "label_smoothing_factor must lie in [0, 1)");
        if (LoadBestModelAtEnd)
        {
            Require(EvalStrategy != IntervalStrategy.No, "load_best_model_at_end needs an eval_strategy other than 'no'");
            Require(SaveStrategy == EvalStrategy, $"load_best_model_at_end needs save_strategy ({Name(SaveStrategy)}) equal to eval_strategy ({Name(EvalStrategy)})");
            if (EvalStrategy == IntervalStrategy.Steps)
                Require(SaveSteps % EffectiveEvalSteps == 0, $"load_best_model_at_end needs save_steps ({SaveSteps}) to be a multiple of eval_steps ({EffectiveEvalSteps})");
        }
        string o = Optim.ToLowerInvariant();
        Require(o is "adamw_torch" or "adamw_hf" or "adamw" or "adam" or "sgd", $"optim '{Optim}' is not supported (adamw_torch, adam, sgd)");
    }

    private static void Require(bool ok, string message)
    {
        if (!ok) throw FinetuneException.Invalid($"Invalid training arguments: {message}.");
    }

    // ---- snake_case (de)serialization ---------------------------------------------------------------------------

    private static readonly Dictionary<string, string> Aliases = new()
    {
        ["evaluation_strategy"] = "eval_strategy",
    };

    private static readonly Lazy<Dictionary<string, PropertyInfo>> BySnake = new(() =>
        typeof(TrainingArguments).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => ToSnake(p.Name), p => p));

    /// <summary>Every settable field as (snake_case name, .NET type), in declaration order (the CLI builds its options from this).</summary>
    public static IReadOnlyList<(string Name, Type Type)> Fields =>
        BySnake.Value.Select(kv => (kv.Key, kv.Value.PropertyType)).ToList();

    public static string ToSnake(string pascal)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            bool boundary = char.IsUpper(c) && i > 0 && (char.IsLower(pascal[i - 1]) || char.IsDigit(pascal[i - 1])
                || (i + 1 < pascal.Length && char.IsLower(pascal[i + 1]) && char.IsUpper(pascal[i - 1])));
            if (boundary) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        string s = sb.ToString();
        return s.Replace("adam_beta_1", "adam_beta1").Replace("adam_beta_2", "adam_beta2");
    }

    /// <summary>True when the key is a field of this class (directly or via transformers' older alias).</summary>
    public static bool IsKnown(string snakeKey) => BySnake.Value.ContainsKey(Aliases.GetValueOrDefault(snakeKey, snakeKey));

    /// <summary>Sets one field from text (a CLI value or a YAML scalar); "null"/"none" clears a nullable field.</summary>
    public void Set(string snakeKey, string? text, string source = "argument")
    {
        string key = Aliases.GetValueOrDefault(snakeKey, snakeKey);
        if (!BySnake.Value.TryGetValue(key, out var prop))
            throw FinetuneException.Invalid($"Unknown training argument '{snakeKey}' in {source}.");
        prop.SetValue(this, Convert(prop.PropertyType, text, snakeKey, source));
    }

    private static object? Convert(Type type, string? text, string key, string source)
    {
        Type? under = Nullable.GetUnderlyingType(type);
        bool nullable = under != null || !type.IsValueType;
        Type t = under ?? type;
        if (t == typeof(Dictionary<string, double>)) return ParseKwargs(text, key, source);
        if (text == null || (nullable && (text.Equals("null", StringComparison.OrdinalIgnoreCase) || text.Equals("none", StringComparison.OrdinalIgnoreCase) || text == "~")))
        {
            if (nullable) return null;
            throw FinetuneException.Invalid($"Training argument '{key}' in {source} cannot be null.");
        }
        try
        {
            if (t == typeof(string)) return text;
            if (t == typeof(int)) return int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (t == typeof(double)) return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (t == typeof(bool)) return text.ToLowerInvariant() switch
            {
                "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => throw new FormatException(),
            };
            if (t == typeof(SchedulerType)) return LrScheduler.ParseType(text);
            if (t == typeof(IntervalStrategy)) return text.ToLowerInvariant() switch
            {
                "no" => IntervalStrategy.No,
                "steps" => IntervalStrategy.Steps,
                "epoch" => IntervalStrategy.Epoch,
                _ => throw new FormatException(),
            };
            if (t == typeof(TrainSamplingStrategy)) return text.ToLowerInvariant().Replace("-", "_") switch
            {
                "random" => TrainSamplingStrategy.Random,
                "sequential" => TrainSamplingStrategy.Sequential,
                "group_by_length" => TrainSamplingStrategy.GroupByLength,
                _ => throw new FormatException(),
            };
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw FinetuneException.Invalid($"Training argument '{key}' in {source} has the value '{text}', which is not a valid {Describe(t)}.");
        }
        throw new FinetuneException(ErrorKind.Unsupported, $"Training argument '{key}' has an unsupported type.");
    }

    // A JSON object of numbers, e.g. {"lr_end": 1e-6, "power": 2}; null or empty is {}.
    private static Dictionary<string, double> ParseKwargs(string? text, string key, string source)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text) || text.Trim() is "null" or "None" or "~") return result;
        try
        {
            if (JsonNode.Parse(text) is not JsonObject o) throw new FormatException();
            foreach (var (k, v) in o)
                result[k] = v is JsonValue jv && jv.GetValueKind() == JsonValueKind.Number ? jv.GetValue<double>() : throw new FormatException();
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw FinetuneException.Invalid($"Training argument '{key}' in {source} has the value '{text}', which is not a JSON object of numbers (e.g. {{\"lr_end\": 1e-6, \"power\": 2}}).");
        }
        return result;
    }

    private static string Describe(Type t) =>
        t == typeof(int) ? "integer" : t == typeof(double) ? "number" : t == typeof(bool) ? "boolean (true/false)"
        : t == typeof(IntervalStrategy) ? "strategy (no, steps, epoch)" : t == typeof(TrainSamplingStrategy) ? "sampling strategy (random, sequential, group_by_length)" : t.Name;

    public static string Name(IntervalStrategy s) => s.ToString().ToLowerInvariant();

    /// <summary>Loads a JSON object or YAML mapping with transformers' snake_case keys (chosen by file extension).</summary>
    public static TrainingArguments Load(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"The training arguments file '{path}' does not exist.");
        string text = File.ReadAllText(path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext is ".yaml" or ".yml" ? FromYaml(text, path) : FromJson(text, path);
    }

    public static TrainingArguments FromJson(string json, string source = "JSON")
    {
        JsonNode? root;
        try { root = SafeJson.ParseNode(json, source); }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"'{source}' is not valid JSON (line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}).", e);
        }
        if (root is not JsonObject obj) throw FinetuneException.Invalid($"'{source}' must hold a JSON object of training arguments.");
        var args = new TrainingArguments();
        foreach (var (key, value) in obj)
        {
            if (!IsKnown(key)) continue; // transformers writes many fields (hub, fsdp, deepspeed...) that do not apply here
            string? text = value switch
            {
                null => null,
                JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
                JsonValue v => v.ToJsonString(),
                JsonObject m when key == "lr_scheduler_kwargs" => m.ToJsonString(),
                _ => throw FinetuneException.Invalid($"Training argument '{key}' in '{source}' must be a single value."),
            };
            args.Set(key, text, $"'{source}'");
        }
        return args;
    }

    public static TrainingArguments FromYaml(string yaml, string source = "YAML")
    {
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw FinetuneException.Invalid($"'{source}' is not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.Message}", e);
        }
        var args = new TrainingArguments();
        if (stream.Documents.Count == 0) return args;
        if (stream.Documents[0].RootNode is not YamlDotNet.RepresentationModel.YamlMappingNode map)
            throw FinetuneException.Invalid($"'{source}' must hold a YAML mapping of training arguments.");
        foreach (var (k, v) in map.Children)
        {
            string key = ((YamlDotNet.RepresentationModel.YamlScalarNode)k).Value ?? "";
            if (!IsKnown(key)) continue;
            if (key == "lr_scheduler_kwargs" && v is YamlDotNet.RepresentationModel.YamlMappingNode kwargs)
            {
                var o = new JsonObject();
                foreach (var (kk, kv) in kwargs.Children)
                    o[((YamlDotNet.RepresentationModel.YamlScalarNode)kk).Value ?? ""] = double.TryParse((kv as YamlDotNet.RepresentationModel.YamlScalarNode)?.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
                        ? d : throw FinetuneException.Invalid($"lr_scheduler_kwargs in '{source}' (line {kv.Start.Line}) must map names to numbers.");
                args.Set(key, o.ToJsonString(), $"'{source}' line {v.Start.Line}");
                continue;
            }
            if (v is not YamlDotNet.RepresentationModel.YamlScalarNode scalar)
                throw FinetuneException.Invalid($"Training argument '{key}' in '{source}' (line {v.Start.Line}) must be a single value.");
            string? text = scalar.Value;
            if (scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && (text is "" or "~")) text = null;
            args.Set(key, text, $"'{source}' line {v.Start.Line}");
        }
        return args;
    }

    /// <summary>The arguments as transformers' to_dict() keys and value types.</summary>
    public JsonObject ToJsonObject()
    {
        var o = new JsonObject();
        foreach (var (key, prop) in BySnake.Value)
        {
            object? v = prop.GetValue(this);
            o[key] = v switch
            {
                null => null,
                SchedulerType s => LrScheduler.TypeName(s),
                IntervalStrategy s => Name(s),
                TrainSamplingStrategy s => s == TrainSamplingStrategy.GroupByLength ? "group_by_length" : s.ToString().ToLowerInvariant(),
                string s => s,
                bool b => b,
                int i => i,
                double d => d,
                Dictionary<string, double> kw => new JsonObject(kw.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                _ => v.ToString(),
            };
        }
        return o;
    }

    public string ToJson() => ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public TrainingArguments Clone()
    {
        var c = (TrainingArguments)MemberwiseClone();
        c.LrSchedulerKwargs = new Dictionary<string, double>(LrSchedulerKwargs);
        return c;
    }
}
