using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Training;

/// <summary>
/// transformers' TrainerState: progress counters, log history and the best checkpoint, saved as
/// <c>trainer_state.json</c> in transformers 4.35's schema (sorted keys, indent 2).
/// </summary>
public sealed class TrainerState
{
    public double? Epoch { get; set; }
    public int GlobalStep { get; set; }
    public int MaxSteps { get; set; }
    public int LoggingSteps { get; set; } = 500;
    public int EvalSteps { get; set; } = 500;
    public int SaveSteps { get; set; } = 500;
    public int TrainBatchSize { get; set; }
    public int NumTrainEpochs { get; set; }
    public double TotalFlos { get; set; }
    public List<Dictionary<string, double>> LogHistory { get; } = new();
    public double? BestMetric { get; set; }
    public string? BestModelCheckpoint { get; set; }
    public bool IsLocalProcessZero { get; set; } = true;
    public bool IsWorldProcessZero { get; set; } = true;

    public JsonObject ToJsonObject()
    {
        var history = new JsonArray();
        foreach (var entry in LogHistory)
        {
            var o = new JsonObject();
            foreach (var (k, v) in entry) o[k] = k is "step" ? (int)v : v;
            history.Add(o);
        }
        // Keys in sorted order, as transformers' json.dumps(..., sort_keys=True).
        return new JsonObject
        {
            ["best_metric"] = BestMetric,
            ["best_model_checkpoint"] = BestModelCheckpoint,
            ["epoch"] = Epoch,
            ["eval_steps"] = EvalSteps,
            ["global_step"] = GlobalStep,
            ["is_hyper_param_search"] = false,
            ["is_local_process_zero"] = IsLocalProcessZero,
            ["is_world_process_zero"] = IsWorldProcessZero,
            ["log_history"] = history,
            ["logging_steps"] = LoggingSteps,
            ["max_steps"] = MaxSteps,
            ["num_train_epochs"] = NumTrainEpochs,
            ["save_steps"] = SaveSteps,
            ["total_flos"] = TotalFlos,
            ["train_batch_size"] = TrainBatchSize,
            ["trial_name"] = null,
            ["trial_params"] = null,
        };
    }

    public void SaveToJson(string path) =>
        AtomicFile.WriteAllText(path, ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

    public static TrainerState LoadFromJson(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"The trainer state '{path}' does not exist.");
        JsonObject o;
        try { o = SafeJson.ParseFile(path)!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        {
            throw FinetuneException.Invalid($"The trainer state '{path}' is not a valid trainer_state.json.", e);
        }
        var s = new TrainerState
        {
            Epoch = o["epoch"]?.GetValue<double>(),
            GlobalStep = o["global_step"]?.GetValue<int>() ?? 0,
            MaxSteps = o["max_steps"]?.GetValue<int>() ?? 0,
            LoggingSteps = o["logging_steps"]?.GetValue<int>() ?? 500,
            EvalSteps = o["eval_steps"]?.GetValue<int>() ?? 500,
            SaveSteps = o["save_steps"]?.GetValue<int>() ?? 500,
            TrainBatchSize = o["train_batch_size"]?.GetValue<int>() ?? 0,
            NumTrainEpochs = o["num_train_epochs"]?.GetValue<int>() ?? 0,
            TotalFlos = o["total_flos"]?.GetValue<double>() ?? 0,
            BestMetric = o["best_metric"]?.GetValue<double>(),
            BestModelCheckpoint = o["best_model_checkpoint"]?.GetValue<string>(),
        };
        if (o["log_history"] is JsonArray history)
            foreach (var entry in history.OfType<JsonObject>())
                s.LogHistory.Add(entry.Where(kv => kv.Value is JsonValue).ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>()));
        return s;
    }
}

/// <summary>transformers' TrainerControl: flags callbacks set to steer the training loop.</summary>
public sealed class TrainerControl
{
    public bool ShouldTrainingStop { get; set; }
    public bool ShouldEpochStop { get; set; }
    public bool ShouldSave { get; set; }
    public bool ShouldEvaluate { get; set; }
    public bool ShouldLog { get; set; }
}
