using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Data;
using Finetune.Metrics;
using Finetune.Models;
using Finetune.Tensors;
using Finetune.Terminal;
using Finetune.Tokenizers;
using Finetune.Training;

namespace Finetune.Cli.Recipes;

/// <summary>What to fine-tune on what: the seed notebooks' recipe as data (model, dataset, columns, arguments).</summary>
public sealed class RecipeOptions
{
    /// <summary>A model folder (config.json + weights), or with FromScratch a config.json file or its folder.</summary>
    public string Model { get; set; } = "";
    public bool FromScratch { get; set; }
    /// <summary>Tokenizer folder (default: the model folder when it holds tokenizer files).</summary>
    public string? Tokenizer { get; set; }
    public string Dataset { get; set; } = "rotten_tomatoes";
    public string? DatasetConfig { get; set; }
    public string? DataRoot { get; set; }
    /// <summary>Text column (default: text, sentence, or sentence1 for pairs).</summary>
    public string? TextColumn { get; set; }
    public string? TextPairColumn { get; set; }
    public string LabelColumn { get; set; } = "label";
    /// <summary>Class names in id order; default: the ClassLabel's names, else the sorted distinct values (class_encode_column).</summary>
    public string[]? LabelNames { get; set; }
    /// <summary>Split a test part off the training split (train_test_split: a fraction, or a row count when >= 1).</summary>
    public double? TestSize { get; set; }
    /// <summary>Without a validation split: validation = train[:N%], train = train[N%:].</summary>
    public int? ValidationSplitPercentage { get; set; }
    /// <summary>With <see cref="TestSize"/>: keep each class's proportion (train_test_split's stratify_by_column).</summary>
    public string? StratifyByColumn { get; set; }
    public int MaxLength { get; set; } = 128;
    /// <summary>Split names or `datasets` split strings: "train", "train[:80%]", "train[10:20]", "train+validation".</summary>
    public string TrainSplit { get; set; } = "train";
    public string EvalSplit { get; set; } = "validation";
    public string TestSplit { get; set; } = "test";
    public int? MaxTrainSamples { get; set; }
    public int? MaxEvalSamples { get; set; }
    /// <summary>Metrics, comma-separated (see <see cref="RecipeMetrics.Help"/>); null: the dataset's default (GLUE: its task's set).</summary>
    public string? Metric { get; set; }
    /// <summary>Evaluate the model as it is, without training (compare --zero-shot).</summary>
    public bool ZeroShot { get; set; }
    /// <summary>Re-initialise encoder weights whose checkpoint shape differs instead of failing (a task head always may).</summary>
    public bool IgnoreMismatchedSizes { get; set; }
    /// <summary>Load even when the checkpoint leaves weights random or unused beyond a fresh task head (warned, not failed).</summary>
    public bool AllowNewWeights { get; set; }
    /// <summary>Train LoRA adapters (peft's get_peft_model) instead of every weight; the output folder holds the adapter.</summary>
    public Peft.LoraConfig? Lora { get; set; }
    /// <summary>Train the task head only (the encoder frozen).</summary>
    public bool FreezeBase { get; set; }
    public bool FreezeEmbeddings { get; set; }
    /// <summary>Encoder layers to freeze, "N-M" inclusive.</summary>
    public string? FreezeLayers { get; set; }
    /// <summary>Receives the loading report (newly initialised / unused / re-sized weights), as transformers warns.</summary>
    public Action<string>? Log { get; set; }
    public TrainingArguments Args { get; set; } = new();
    /// <summary>Stops training between micro-batches with a <see cref="TrainingInterruptedException"/> (Ctrl-C in the CLI).</summary>
    public CancellationToken Cancellation { get; set; }
    /// <summary>Ranks to train with (data-parallel); null for one process. Only rank 0 shows progress and writes outputs.</summary>
    public Training.Distributed.ICommunicator? Communicator { get; set; }
    /// <summary>Called after every optimizer step (on every rank; the loss is the mean over ranks).</summary>
    public Action<StepRecord>? OnStep { get; set; }
}

/// <summary>Everything a run produced.</summary>
public sealed class RecipeResult
{
    public required TrainOutput? Train { get; init; }
    public required IReadOnlyList<EpochRow> Epochs { get; init; }
    public required IReadOnlyDictionary<string, double> TestMetrics { get; init; }
    public required string TestSplit { get; init; }
    /// <summary>The split evaluated during training: "validation", or the test split's name when there is none.</summary>
    public string EvalSplit { get; init; } = "validation";
    public required ClassificationReport Report { get; init; }
    public required long[,] ConfusionMatrix { get; init; }
    public required IReadOnlyList<string> LabelNames { get; init; }
    public required long NumParameters { get; init; }
    public required double TrainSeconds { get; init; }
    public required double EvalSeconds { get; init; }
    public required int TrainSamples { get; init; }
    public required int EvalSamples { get; init; }
    public required IReadOnlyList<Dictionary<string, double>> LogHistory { get; init; }
    public string? OutputDir { get; init; }
    /// <summary>The metric set computed at each evaluation (says which F1 "f1" is).</summary>
    public RecipeMetrics? Metrics { get; init; }
    /// <summary>The unlabelled split that was predicted instead of scored (a GLUE test split), and where its predictions went.</summary>
    public string? PredictSplit { get; init; }
    public string? PredictFile { get; init; }
}

/// <summary>
/// Loads the dataset and the model, tokenizes (rows that already hold input_ids are used as they are), trains
/// with the Trainer, evaluates on the test split, and writes the model, metrics.json and report.html.
/// </summary>
public static class FineTuneRecipe
{
    public static RecipeResult Run(RecipeOptions o, Action<EpochRow>? onEpoch = null, TextWriter? progress = null, bool writeOutputs = true)
    {
        var args = o.Args;
        args.Validate();
        var metricSet = RecipeMetrics.For(o.Metric, o.Dataset, o.DatasetConfig);
        if (o.Communicator is { Rank: > 0 })
        {
            writeOutputs = false;
            progress = null;
            onEpoch = null;
        }
        if (writeOutputs && !o.ZeroShot) CheckOutputDir(args);

        var splits = RecipeData.Prepare(o, m => progress?.WriteLine("warning: " + m));
        Dataset? evalSet = splits.Eval;
        string testName = splits.TestName;
        Dataset testSet = splits.Test;
        // A split without labels (GLUE test splits hold -1) is predicted, not scored, as run_glue.py does; the final
        // report then uses the validation split.
        Dataset? predictSet = splits.Predict;
        string? predictName = splits.PredictName;
        // Evaluating as-is needs no training split; the label names then come from the evaluated split.
        Dataset trainSet = splits.Train ?? testSet;
        // A subset is the notebooks' shuffle(seed).select(range(n)): splits are often sorted by label.
        ulong subsetSeed = (ulong)(args.DataSeed ?? args.Seed);
        if (o.MaxTrainSamples is int mt && mt < trainSet.NumRows) trainSet = trainSet.Shuffle(subsetSeed).Select(0, mt);
        if (o.MaxEvalSamples is int me)
        {
            if (evalSet != null && me < evalSet.NumRows) evalSet = evalSet.Shuffle(subsetSeed).Select(0, me);
            if (me < testSet.NumRows) testSet = testSet.Shuffle(subsetSeed).Select(0, me);
            if (predictSet != null && me < predictSet.NumRows) predictSet = predictSet.Select(0, me);
        }

        string[] labelNames = splits.LabelNames;
        var model = LoadModel(o, labelNames);
        int maxPositions = model.Model.Config.Fields["max_position_embeddings"]?.GetValue<int>() ?? int.MaxValue;
        if (o.MaxLength > maxPositions)
            throw FinetuneException.Invalid($"max_length {o.MaxLength} is larger than the model's {maxPositions} positions (max_position_embeddings).");

        PreTrainedTokenizer? tokenizer = null;
        bool pretokenized = trainSet.ColumnNames.Contains("input_ids");
        if (!pretokenized || o.Tokenizer != null) tokenizer = LoadTokenizer(o);
        // Evaluating as-is tokenizes only the split it scores.
        var test = Tokenize(testSet, o, tokenizer, labelNames, testName);
        Dataset? train = o.ZeroShot ? null : Tokenize(trainSet, o, tokenizer, labelNames, "train");
        // Datasets without a validation split (imdb: train/test) are evaluated on the test split, as the notebooks do.
        var eval = o.ZeroShot ? null : evalSet != null ? Tokenize(evalSet, o, tokenizer, labelNames, splits.EvalName!) : args.EvalStrategy != IntervalStrategy.No ? test : null;
        var predictRows = predictSet != null ? Tokenize(predictSet, o, tokenizer, labelNames, predictName!, labelled: false) : null;

        string evalSplitName = evalSet != null ? splits.EvalName! : testName;
        var table = new EpochTableCallback(evalSplit: evalSplitName);
        if (onEpoch != null) table.RowAdded += onEpoch;
        // The progress bar goes first so that it ends its line before the table prints a row.
        var callbacks = new List<TrainerCallback>();
        if (!args.DisableTqdm && progress != null) callbacks.Add(new ProgressCallback(new ProgressBar(0, progress)));
        callbacks.Add(table);
        ISequenceClassifier toTrain = ApplyFreezing(o, model);
        var trainer = new Trainer(toTrain, args, train, eval, metricSet.Compute, callbacks, tokenizer?.PadTokenId ?? model.Model.Config.PadTokenId ?? 0);
        table.Attach(trainer);
        trainer.Communicator = o.Communicator;
        if (o.OnStep != null) trainer.StepCompleted += o.OnStep;
        if (tokenizer != null) trainer.SaveTokenizer = tokenizer.SavePretrained;
        trainer.CancellationToken = o.Cancellation;
        if (progress != null) trainer.Logger = progress.WriteLine;

        var clock = Stopwatch.StartNew();
        TrainOutput? trained = null;
        if (!o.ZeroShot) trained = trainer.Train();
        double trainSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var predicted = trainer.Predict(test);
        double evalSeconds = clock.Elapsed.TotalSeconds;
        int[] yPred = new EvalPrediction(predicted.Predictions, predicted.NumLabels, null, null).ArgMax();
        int[] yTrue = predicted.LabelIds ?? throw FinetuneException.Invalid($"The '{testName}' split has no labels to evaluate against.");
        string[] names = labelNames;
        var report = ClassificationReport.Build(yTrue, yPred, ReportNames(yTrue, yPred, names));
        long[,] confusion = ClassificationMetrics.ConfusionMatrix(yTrue, yPred, Enumerable.Range(0, names.Length).ToArray());

        var result = new RecipeResult
        {
            Train = trained,
            Epochs = table.Rows.ToList(),
            TestMetrics = predicted.Metrics,
            TestSplit = testName,
            EvalSplit = evalSplitName,
            Report = report,
            ConfusionMatrix = confusion,
            LabelNames = names,
            NumParameters = model.Module.NumParameters(),
            TrainSeconds = trainSeconds,
            EvalSeconds = evalSeconds,
            TrainSamples = train?.NumRows ?? 0,
            EvalSamples = test.NumRows,
            LogHistory = trainer.State.LogHistory,
            OutputDir = writeOutputs ? args.OutputDir : null,
            Metrics = metricSet,
            PredictSplit = predictName,
            PredictFile = writeOutputs && predictRows != null ? Path.Combine(args.OutputDir, $"predict_results_{PredictTaskName(o)}.txt") : null,
        };
        if (result.PredictFile != null) WritePredictions(trainer.Predict(predictRows!), labelNames, result.PredictFile);
        if (writeOutputs)
        {
            if (!o.ZeroShot)
            {
                trainer.SaveModel(args.OutputDir);
                SaveResults(trainer, trained!, train!.NumRows, evalSet != null ? eval : null, predicted.Metrics, test.NumRows, testName == splits.EvalName);
            }
            WriteMetrics(result, Path.Combine(args.OutputDir, "metrics.json"));
            AtomicFile.WriteAllText(Path.Combine(args.OutputDir, "report.html"), HtmlReport.Build(
                $"finetune: {ModelLabel(o.Model)} on {o.Dataset}", result.LogHistory, confusion, names,
                report.ToText(), Settings(o), result.TestMetrics.Where(kv => !kv.Key.Contains("runtime") && !kv.Key.Contains("per_second")).ToDictionary(), evalSplitName));
        }
        return result;
    }

    /// <summary>
    /// A local folder as is; a Hub repository id (name or owner/name) through the Hugging Face cache, downloading
    /// only the parts needed; anything that looks like a path but does not exist is a NotFound error naming it.
    /// </summary>
    private static string Resolve(string nameOrPath, Hub.ModelFiles parts, string what) =>
        Hub.NameOrPath.ResolveModel(nameOrPath, parts, what: what,
            hint: "give a local folder with config.json and model.safetensors, a Hub model id, or --from-scratch with a config");

    /// <summary>A short name for a model path: the folder name (the config's folder for a config.json).</summary>
    public static string ModelLabel(string path)
    {
        string p = Path.TrimEndingDirectorySeparator(path);
        string name = Path.GetFileName(p);
        return name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(p))!) : name;
    }

    /// <summary>
    /// What transformers' example scripts leave beside the model: train_results.json (train_samples added),
    /// trainer_state.json, eval_results.json for the validation split evaluated at the end, test_results.json,
    /// and all_results.json holding them all. A report on the validation split (no test split) is eval_, not test_.
    /// </summary>
    private static void SaveResults(Trainer trainer, TrainOutput trained, int trainSamples, Dataset? validation,
        IReadOnlyDictionary<string, double> testMetrics, int testSamples, bool testIsValidation)
    {
        var trainMetrics = new Dictionary<string, double>(trained.Metrics) { ["train_samples"] = trainSamples };
        trainer.SaveMetrics("train", trainMetrics);
        trainer.SaveState();
        if (validation != null && !testIsValidation)
        {
            var evalMetrics = new Dictionary<string, double>(trainer.Predict(validation, "eval").Metrics) { ["eval_samples"] = validation.NumRows };
            if (trainer.State.Epoch is double epoch) evalMetrics["epoch"] = epoch;
            trainer.SaveMetrics("eval", evalMetrics);
        }
        string prefix = testIsValidation ? "eval" : "test";
        var final = testMetrics.ToDictionary(kv => prefix + (kv.Key.StartsWith("test_", StringComparison.Ordinal) ? kv.Key[4..] : "_" + kv.Key), kv => kv.Value);
        final[prefix + "_samples"] = testSamples;
        trainer.SaveMetrics(prefix, final);
    }

    /// <summary>
    /// Creates the folder and writes and removes a probe file, so that an unwritable output folder fails in the
    /// first second rather than after the last epoch.
    /// </summary>
    public static void ProbeWritable(string dir)
    {
        string probe = Path.Combine(dir, $".finetune-probe-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new FinetuneException(ErrorKind.Io, $"The output folder '{dir}' is not writable: {e.Message}", e);
        }
    }

    internal static string[] ReportNames(int[] yTrue, int[] yPred, string[] names) =>
        ClassificationMetrics.SortedLabels(yTrue, yPred).Select(l => l >= 0 && l < names.Length ? names[l] : l.ToString(CultureInfo.InvariantCulture)).ToArray();

    private static void CheckOutputDir(TrainingArguments args)
    {
        ProbeWritable(args.OutputDir);
        string argsFile = Path.Combine(args.OutputDir, "training_args.json");
        if (args.OverwriteOutputDir || args.ResumeFromCheckpoint != null || !File.Exists(argsFile)) return;
        var previous = TrainingArguments.Load(argsFile);
        previous.OutputDir = args.OutputDir;
        if (previous.ToJson() != args.ToJson())
            throw FinetuneException.Invalid($"The output folder '{args.OutputDir}' holds a run with different training arguments; choose another --output-dir or pass --overwrite-output-dir.");
    }

    /// <summary>--lora and --freeze-*: the model the Trainer drives, with the frozen parameters no longer requiring grad.</summary>
    private static ISequenceClassifier ApplyFreezing(RecipeOptions o, SequenceClassifierAdapter model)
    {
        if (o.FreezeBase) Peft.Freezing.FreezeBase(model.Model);
        if (o.FreezeEmbeddings) Peft.Freezing.FreezeEmbeddings(model.Model);
        if (o.FreezeLayers is string spec)
        {
            var (first, last) = Peft.Freezing.ParseRange(spec);
            Peft.Freezing.FreezeLayers(model.Model, first, last);
        }
        if (o.Lora == null) return model;
        if (o.FreezeBase || o.FreezeEmbeddings || o.FreezeLayers != null)
            throw FinetuneException.Invalid("--lora already freezes every base weight; it does not combine with --freeze-*.");
        // The adapter is saved without the base weights, which from_config draws at random: nothing could load it again.
        if (o.FromScratch) throw FinetuneException.Invalid("--lora trains adapters over pretrained weights; with --from-scratch the random base would not be saved.");
        o.Lora.BaseModelNameOrPath ??= o.Model;
        return new PeftSequenceClassifier(model, Peft.PeftModel.GetPeftModel(model.Model, o.Lora, new Generator((ulong)o.Args.Seed)));
    }

    internal static SequenceClassifierAdapter LoadModel(RecipeOptions o, string[] labelNames)
    {
        var id2label = Enumerable.Range(0, labelNames.Length).ToDictionary(i => i, i => labelNames[i]);
        if (o.FromScratch)
        {
            string path = File.Exists(o.Model) ? o.Model : Resolve(o.Model, Hub.ModelFiles.Config, "Config folder");
            if (!File.Exists(path) && !File.Exists(Path.Combine(path, "config.json")))
                throw FinetuneException.Missing($"--from-scratch needs a config.json, but '{path}' is neither that file nor a folder holding it.");
            var config = AutoConfig.FromPretrained(path);
            config.Id2Label = id2label;
            config.ProblemType ??= ProblemTypes.SingleLabel;
            return new SequenceClassifierAdapter(AutoModelForSequenceClassification.FromConfig(config, new Generator((ulong)o.Args.Seed)));
        }
        string modelDir = Resolve(o.Model, Hub.ModelFiles.Config | Hub.ModelFiles.Weights, "Model folder");
        var model = AutoModelForSequenceClassification.FromPretrained(modelDir, new FromPretrainedOptions
        {
            NumLabels = o.ZeroShot ? null : labelNames.Length,
            Id2Label = o.ZeroShot ? null : id2label,
            // Fine-tuning may replace the task head (another label count); EnsureFits refuses re-sized encoder weights.
            IgnoreMismatchedSizes = !o.ZeroShot || o.IgnoreMismatchedSizes,
            Rng = new Generator((ulong)o.Args.Seed),
            Log = o.Log,
            AllowNewWeights = o.AllowNewWeights,
        }, out var report);
        report.EnsureFits(model.ArchitectureName, modelDir, training: !o.ZeroShot, o.AllowNewWeights, o.IgnoreMismatchedSizes);
        return new SequenceClassifierAdapter(model);
    }

    internal static PreTrainedTokenizer LoadTokenizer(RecipeOptions o)
    {
        string? dir = o.Tokenizer;
        if (dir == null)
        {
            string modelDir = File.Exists(o.Model) ? Path.GetDirectoryName(Path.GetFullPath(o.Model))! : o.Model;
            // The files AutoTokenizer reads: tokenizer.json, or a family's legacy vocabulary (WordPiece, byte-level BPE, SentencePiece).
            bool hasTok = Directory.Exists(modelDir) && new[] { "tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer_config.json" }
                .Any(f => File.Exists(Path.Combine(modelDir, f)));
            // A Hub model id names its own tokenizer, as AutoTokenizer.from_pretrained(model_id) does.
            bool hubId = !Directory.Exists(modelDir) && !File.Exists(o.Model) && Hub.HubClient.IsValidRepoId(o.Model);
            dir = hasTok || hubId ? modelDir : throw FinetuneException.Missing($"No tokenizer files in '{modelDir}'; pass --tokenizer with the tokenizer folder of the model's family (tokenizer.json, or vocab.txt, vocab.json + merges.txt, spiece.model).");
        }
        return AutoTokenizer.FromPretrained(Resolve(dir, Hub.ModelFiles.Tokenizer, "Tokenizer folder"));
    }

    /// <summary>The split as the Trainer reads it: input_ids, token_type_ids and attention_mask when the tokenizer makes them, and the class ids as `label` (left out for an unlabelled split).</summary>
    internal static Dataset Tokenize(Dataset ds, RecipeOptions o, PreTrainedTokenizer? tokenizer, string[] labelNames, string split, bool labelled = true)
    {
        // An unlabelled split gets no label column, so the Trainer predicts it without a loss or metrics.
        int[]? labels = !labelled ? null
            : ds.ColumnNames.Contains(o.LabelColumn) ? ds.GetInts(o.LabelColumn) : throw FinetuneException.Missing($"Split '{split}' has no label column '{o.LabelColumn}'.");
        if (labels != null)
            foreach (int l in labels)
                if (l < 0 || l >= labelNames.Length)
                    throw FinetuneException.Invalid($"Split '{split}' has label {l}, outside the {labelNames.Length} classes of the training split.");
        if (ds.ColumnNames.Contains("input_ids") && o.Tokenizer == null)
        {
            var types = ds.ColumnNames.Contains("token_type_ids") ? ds.GetIntLists("token_type_ids") : null;
            var masks = ds.ColumnNames.Contains("attention_mask") ? ds.GetIntLists("attention_mask") : null;
            return TokenizedSplit(Truncated(ds.GetIntLists("input_ids"), o.MaxLength, "input_ids")!, Truncated(types, o.MaxLength), Truncated(masks, o.MaxLength), labels);
        }
        string textColumn = o.TextColumn ?? new[] { "text", "sentence", "sentence1", "question" }.FirstOrDefault(ds.ColumnNames.Contains)
            ?? throw FinetuneException.Missing($"Split '{split}' has no text column (columns: {string.Join(", ", ds.ColumnNames)}); pass --text-column.");
        if (!ds.ColumnNames.Contains(textColumn)) throw FinetuneException.Missing($"Split '{split}' has no column '{textColumn}' (columns: {string.Join(", ", ds.ColumnNames)}).");
        string? pairColumn = o.TextPairColumn ?? (textColumn == "sentence1" && ds.ColumnNames.Contains("sentence2") ? "sentence2" : null);
        if (pairColumn != null && !ds.ColumnNames.Contains(pairColumn)) throw FinetuneException.Missing($"Split '{split}' has no column '{pairColumn}'.");
        var texts = ds.GetStrings(textColumn).Select(t => t ?? "").ToList();
        var pairs = pairColumn != null ? ds.GetStrings(pairColumn).Select(t => t ?? "").ToList() : null;
        var enc = tokenizer!.EncodeBatch(texts, pairs, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = o.MaxLength });
        var ids = new int[]?[enc.Count];
        int[]?[]? typeIds = enc.Count > 0 && enc[0].TokenTypeIds != null ? new int[]?[enc.Count] : null;
        var mask = new int[]?[enc.Count];
        for (int i = 0; i < enc.Count; i++)
        {
            ids[i] = enc[i].InputIds;
            if (typeIds != null) typeIds[i] = enc[i].TokenTypeIds;
            mask[i] = enc[i].AttentionMask;
        }
        return TokenizedSplit(ids, typeIds, mask, labels);
    }

    private static Dataset TokenizedSplit(int[]?[] ids, int[]?[]? types, int[]?[]? masks, int[]? labels)
    {
        var columns = new Dictionary<string, System.Collections.IList> { ["input_ids"] = ids };
        if (types != null) columns["token_type_ids"] = types;
        if (masks != null) columns["attention_mask"] = masks;
        if (labels != null) columns["label"] = labels;
        return Dataset.FromDict(columns);
    }

    /// <summary>Rows cut to <paramref name="maxLength"/> tokens (the tokenizer's truncation for pre-tokenized data).</summary>
    private static int[]?[]? Truncated(int[]?[]? rows, int? maxLength, string? required = null)
    {
        if (rows == null) return null;
        var cut = new int[]?[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            int[]? row = rows[i];
            if (row == null && required != null) throw FinetuneException.Invalid($"Row {i} of the dataset has no {required}.");
            cut[i] = row != null && maxLength is int m && m > 0 && row.Length > m ? row[..m] : row;
        }
        return cut;
    }

    /// <summary>Is every label of the split missing (no label column) or -1, as in GLUE's test splits?</summary>
    // run_glue.py names the file after the task; any other dataset after its name.
    private static string PredictTaskName(RecipeOptions o) =>
        RecipeMetrics.GlueTask(o.Dataset, o.DatasetConfig) ?? ModelLabel(o.Dataset).Replace(Path.DirectorySeparatorChar, '_');

    /// <summary>
    /// run_glue.py's predict_results_&lt;task&gt;.txt ("index\tprediction", then one row per example with its label
    /// name) and the same rows as JSON lines beside it, with the predicted label's probability.
    /// </summary>
    private static void WritePredictions(PredictionOutput p, string[] labelNames, string path)
    {
        int[] pred = new EvalPrediction(p.Predictions, p.NumLabels, null, null).ArgMax();
        var txt = new System.Text.StringBuilder("index\tprediction\n");
        var jsonl = new System.Text.StringBuilder();
        for (int i = 0; i < pred.Length; i++)
        {
            string name = pred[i] < labelNames.Length ? labelNames[pred[i]] : pred[i].ToString(CultureInfo.InvariantCulture);
            txt.Append(i.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(name).Append('\n');
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < p.NumLabels; c++) max = Math.Max(max, p.Predictions[i * p.NumLabels + c]);
            for (int c = 0; c < p.NumLabels; c++) sum += Math.Exp(p.Predictions[i * p.NumLabels + c] - max);
            double score = Math.Exp(p.Predictions[i * p.NumLabels + pred[i]] - max) / sum;
            jsonl.Append(new JsonObject { ["index"] = i, ["prediction"] = name, ["label_id"] = pred[i], ["score"] = score }.ToJsonString()).Append('\n');
        }
        AtomicFile.WriteAllText(path, txt.ToString());
        AtomicFile.WriteAllText(Path.ChangeExtension(path, ".jsonl"), jsonl.ToString());
    }

    public static void WriteMetrics(RecipeResult r, string path)
    {
        var o = new JsonObject();
        if (r.Metrics != null) o["metric"] = new JsonObject { ["spec"] = r.Metrics.Spec, ["f1_average"] = r.Metrics.F1Average };
        if (r.Train != null)
        {
            var t = new JsonObject { ["global_step"] = r.Train.GlobalStep, ["training_loss"] = r.Train.TrainingLoss };
            foreach (var (k, v) in r.Train.Metrics) t[k] = v;
            o["train"] = t;
        }
        var epochs = new JsonArray();
        foreach (var e in r.Epochs)
            epochs.Add(new JsonObject
            {
                ["epoch"] = e.Epoch,
                ["training_loss"] = e.TrainingLoss,
                [e.EvalSplit + "_loss"] = OrNull(e.ValidationLoss),
                ["accuracy"] = OrNull(e.Accuracy),
                ["f1"] = OrNull(e.F1),
                ["precision"] = OrNull(e.Precision),
                ["recall"] = OrNull(e.Recall),
            });
        o["epochs"] = epochs;
        var test = new JsonObject();
        foreach (var (k, v) in r.TestMetrics) test[k] = v;
        o[r.TestSplit] = test;
        var rep = new JsonObject();
        foreach (var (k, v) in r.Report.ToDictionary())
        {
            if (v is Dictionary<string, object> row)
            {
                var ro = new JsonObject();
                foreach (var (rk, rv) in row) ro[rk] = rv is long l ? JsonValue.Create(l) : JsonValue.Create(Convert.ToDouble(rv, CultureInfo.InvariantCulture));
                rep[k] = ro;
            }
            else rep[k] = (double)v;
        }
        o["classification_report"] = rep;
        var cm = new JsonArray();
        for (int i = 0; i < r.ConfusionMatrix.GetLength(0); i++)
        {
            var row = new JsonArray();
            for (int j = 0; j < r.ConfusionMatrix.GetLength(1); j++) row.Add(r.ConfusionMatrix[i, j]);
            cm.Add(row);
        }
        o["confusion_matrix"] = new JsonObject { ["labels"] = new JsonArray(r.LabelNames.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray()), ["matrix"] = cm };
        o["num_parameters"] = r.NumParameters;
        AtomicFile.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    // A metric the set does not compute (precision for GLUE's mrpc set) is NaN in the table and null in JSON.
    private static double? OrNull(double v) => double.IsNaN(v) ? null : v;

    private static Dictionary<string, string> Settings(RecipeOptions o)
    {
        var s = new Dictionary<string, string>
        {
            ["model"] = o.Model + (o.FromScratch ? " (from scratch)" : ""),
            ["tokenizer"] = o.Tokenizer ?? "(model folder)",
            ["dataset"] = o.Dataset + (o.DatasetConfig != null ? "/" + o.DatasetConfig : ""),
            ["max_length"] = o.MaxLength.ToString(CultureInfo.InvariantCulture),
            ["metric"] = RecipeMetrics.For(o.Metric, o.Dataset, o.DatasetConfig) is var m ? m.Spec + (m.F1Average != null ? $" (F1 {m.F1Average})" : "") : "",
        };
        foreach (var (k, v) in o.Args.ToJsonObject()) s[k] = v?.ToJsonString() ?? "null";
        return s;
    }
}
