using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Weights;

namespace Finetune.Training;

public sealed partial class Trainer
{
    private double resumedTotalLoss;

    public const string CheckpointPrefix = "checkpoint-";

    /// <summary>
    /// Marks a checkpoint folder that is being written or deleted (checkpoint-{step}.tmp-{pid}...): a kill leaves
    /// only such a name, which resuming never picks and the next run in the same output directory removes.
    /// </summary>
    public const string TemporarySuffix = ".tmp-";

    /// <summary>Stops training between micro-batches (and evaluation between batches) with a <see cref="TrainingInterruptedException"/>.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Receives the trainer's notices (leftovers of an interrupted save removed at the start).</summary>
    public Action<string>? Logger { get; set; }

    private void ThrowIfInterrupted()
    {
        if (CancellationToken.IsCancellationRequested)
            throw new TrainingInterruptedException(State.GlobalStep, LastCompleteCheckpoint(), CancellationToken);
    }

    /// <summary>The checkpoint folder of the highest step in OutputDir (what resuming from "last" loads), or null.</summary>
    public string? LastCompleteCheckpoint()
    {
        string? best = null;
        int bestStep = -1;
        foreach (string d in CheckpointFolders())
            if (CheckpointStep(d) is int step && step > bestStep) { bestStep = step; best = d; }
        return best;
    }

    /// <summary>
    /// Removes what a process killed while saving left in OutputDir: checkpoint-*.tmp-* folders and AtomicFile's
    /// hidden temporary files (in OutputDir and in its checkpoint folders). Returns the removed paths.
    /// </summary>
    public IReadOnlyList<string> RemoveInterruptedSaves()
    {
        var removed = new List<string>();
        if (!Directory.Exists(Args.OutputDir)) return removed;
        foreach (string d in Directory.GetDirectories(Args.OutputDir, CheckpointPrefix + "*"))
        {
            if (IsTemporaryCheckpointName(Path.GetFileName(d)))
            {
                if (TryDeleteDirectory(d)) removed.Add(d);
                continue;
            }
            RemoveTemporaryFiles(d, removed);
        }
        RemoveTemporaryFiles(Args.OutputDir, removed);
        foreach (string r in removed) Logger?.Invoke($"Removed '{r}', left by an interrupted save.");
        return removed;
    }

    /// <summary>checkpoint-{digits}.tmp-{anything}: the names SaveCheckpoint writes into and deletes from.</summary>
    public static bool IsTemporaryCheckpointName(string name)
    {
        if (!name.StartsWith(CheckpointPrefix, StringComparison.Ordinal)) return false;
        int i = CheckpointPrefix.Length, digits = i;
        while (i < name.Length && char.IsAsciiDigit(name[i])) i++;
        return i > digits && string.CompareOrdinal(name, i, TemporarySuffix, 0, TemporarySuffix.Length) == 0;
    }

    private static void RemoveTemporaryFiles(string dir, List<string> removed)
    {
        foreach (string f in Directory.GetFiles(dir, ".*.tmp"))
        {
            if (!AtomicFile.IsTemporaryName(Path.GetFileName(f))) continue;
            try { File.Delete(f); removed.Add(f); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static bool TryDeleteDirectory(string dir)
    {
        try { Directory.Delete(dir, recursive: true); return true; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>Renames a folder to a temporary name before deleting it, so a kill midway leaves no half folder under its name.</summary>
    private static void DeleteCheckpointFolder(string dir)
    {
        string doomed = dir + TemporarySuffix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-deleting";
        try
        {
            if (Directory.Exists(doomed)) Directory.Delete(doomed, recursive: true);
            Directory.Move(dir, doomed);
        }
        catch (IOException) { return; }
        catch (UnauthorizedAccessException) { return; }
        TryDeleteDirectory(doomed);
    }

    /// <summary>save_model: config.json + model.safetensors (+ tokenizer files) into the folder (default OutputDir).</summary>
    public void SaveModel(string? directory = null)
    {
        string dir = directory ?? Args.OutputDir;
        model.SavePretrained(dir);
        SaveTokenizer?.Invoke(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, "training_args.json"), Args.ToJson() + "\n");
    }

    /// <summary>
    /// Writes OutputDir/checkpoint-{step}/ (model, optimizer and scheduler state, RNG state, trainer_state.json,
    /// training_args.json, tokenizer files) into a temporary folder renamed into place, updates the best metric,
    /// and rotates old checkpoints keeping the best one.
    /// </summary>
    private void SaveCheckpoint(Dictionary<string, double>? metrics)
    {
        string final = Path.Combine(Args.OutputDir, CheckpointPrefix + State.GlobalStep.ToString(CultureInfo.InvariantCulture));
        string tmp = final + TemporarySuffix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);

        if (metrics != null && Args.EffectiveMetricForBestModel is string metricName)
        {
            string key = metricName.StartsWith("eval_", StringComparison.Ordinal) ? metricName : "eval_" + metricName;
            if (!metrics.TryGetValue(key, out double value))
                throw FinetuneException.Missing($"metric_for_best_model '{metricName}' is not among the evaluation metrics ({string.Join(", ", metrics.Keys)}).");
            bool better = State.BestMetric is not double best || (Args.EffectiveGreaterIsBetter ? value > best : value < best);
            if (State.BestMetric == null || State.BestModelCheckpoint == null || better)
            {
                State.BestMetric = value;
                State.BestModelCheckpoint = final;
            }
        }

        try
        {
            SaveModel(tmp);
            SaveOptimizerState(tmp);
            State.SaveToJson(Path.Combine(tmp, "trainer_state.json"));
            // An older folder of the same step (a run resumed from an earlier checkpoint) leaves under a temporary
            // name first: at every moment checkpoint-{step} is either the old complete one, absent, or the new one.
            if (Directory.Exists(final)) DeleteCheckpointFolder(final);
            Directory.Move(tmp, final);
        }
        catch (IOException e)
        {
            TryDeleteDirectory(tmp);
            throw new FinetuneException(ErrorKind.Io, $"Could not save the checkpoint '{final}': {e.Message}", e);
        }
        catch
        {
            TryDeleteDirectory(tmp);
            throw;
        }
        RotateCheckpoints();
    }

    private void SaveOptimizerState(string dir)
    {
        var tensors = optimizer!.StateTensors().Select(t => new NamedTensor(t.Key, new[] { t.Data.Length }, t.Data)).ToList();
        var steps = new JsonObject();
        foreach (var (k, v) in optimizer.StepCounts) steps[k] = v;
        var meta = new Dictionary<string, string>
        {
            ["format"] = "finetune-optimizer",
            ["optimizer"] = optimizer.GetType().Name,
            ["step_counts"] = steps.ToJsonString(),
        };
        SafeTensors.Write(Path.Combine(dir, "optimizer.safetensors"), tensors, metadata: meta);
        var sched = new JsonObject
        {
            ["last_epoch"] = scheduler!.StepCount,
            ["base_lrs"] = new JsonArray(scheduler.BaseLr),
            ["_last_lr"] = new JsonArray(scheduler.LastLr),
            ["type"] = scheduler.Name,
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "scheduler.json"), sched.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        // Dropout and shuffling are seeded by (seed, micro-batch) and (data seed, epoch), so these fully define the RNG.
        var rng = new JsonObject
        {
            ["seed"] = Args.Seed,
            ["data_seed"] = Args.DataSeed,
            ["total_loss_scalar"] = totalLossScalar + trLoss,
            ["tr_loss_pending"] = trLoss,
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "rng_state.json"), rng.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private string ResolveCheckpoint(string spec)
    {
        if (spec.Equals("true", StringComparison.OrdinalIgnoreCase) || spec.Equals("last", StringComparison.OrdinalIgnoreCase))
        {
            var last = SortedCheckpoints().LastOrDefault();
            return last ?? throw FinetuneException.Missing($"No checkpoint-* folder in '{Args.OutputDir}' to resume from.");
        }
        if (!Directory.Exists(spec)) throw FinetuneException.Missing($"The checkpoint folder '{spec}' does not exist.");
        return spec;
    }

    private void LoadCheckpoint(string dir)
    {
        foreach (string f in new[] { "optimizer.safetensors", "scheduler.json", "trainer_state.json" })
            if (!File.Exists(Path.Combine(dir, f))) throw FinetuneException.Missing($"The checkpoint '{dir}' has no {f}.");
        model.LoadSaved(dir); // the full weights, or only the adapter when training LoRA
        using (var src = SafeTensors.Read(Path.Combine(dir, "optimizer.safetensors")))
        {
            var tensors = src.Names.ToDictionary(n => n, n => src.ReadFloat(n));
            var meta = src.Metadata;
            var steps = new Dictionary<string, long>();
            if (meta != null && meta.TryGetValue("step_counts", out string? json))
                foreach (var (k, v) in JsonNode.Parse(json)!.AsObject()) steps[k] = v!.GetValue<long>();
            optimizer!.LoadState(tensors, steps);
        }
        var sched = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "scheduler.json")))!.AsObject();
        scheduler!.StepCount = sched["last_epoch"]!.GetValue<int>();
        var loaded = TrainerState.LoadFromJson(Path.Combine(dir, "trainer_state.json"));
        loaded.MaxSteps = State.MaxSteps;
        loaded.LoggingSteps = State.LoggingSteps;
        loaded.EvalSteps = State.EvalSteps;
        loaded.SaveSteps = State.SaveSteps;
        loaded.TrainBatchSize = State.TrainBatchSize;
        loaded.NumTrainEpochs = State.NumTrainEpochs;
        State = loaded;
        string rngPath = Path.Combine(dir, "rng_state.json");
        resumedTotalLoss = File.Exists(rngPath) ? JsonNode.Parse(File.ReadAllText(rngPath))!["total_loss_scalar"]?.GetValue<double>() ?? 0 : 0;
    }

    /// <summary>checkpoint-* folders of OutputDir by step, the best one moved towards the end so rotation keeps it.</summary>
    private List<string> SortedCheckpoints()
    {
        var list = CheckpointFolders().Select(d => (Dir: d, Step: CheckpointStep(d)))
            .Where(x => x.Step != null).OrderBy(x => x.Step).Select(x => x.Dir).ToList();
        if (State.BestModelCheckpoint != null)
        {
            int bi = list.FindIndex(d => Path.GetFullPath(d) == Path.GetFullPath(State.BestModelCheckpoint));
            for (int i = bi; bi >= 0 && i < list.Count - 2; i++) (list[i], list[i + 1]) = (list[i + 1], list[i]);
        }
        return list;
    }

    private string[] CheckpointFolders() =>
        Directory.Exists(Args.OutputDir) ? Directory.GetDirectories(Args.OutputDir, CheckpointPrefix + "*") : [];

    private static int? CheckpointStep(string dir) =>
        int.TryParse(Path.GetFileName(dir).AsSpan(CheckpointPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int step) ? step : null;

    private void RotateCheckpoints()
    {
        if (Args.SaveTotalLimit is not int limit || limit <= 0) return;
        var sorted = SortedCheckpoints();
        if (sorted.Count <= limit) return;
        if (State.BestModelCheckpoint != null && limit == 1 && Path.GetFullPath(sorted[^1]) != Path.GetFullPath(State.BestModelCheckpoint)) limit = 2;
        foreach (string d in sorted.Take(Math.Max(0, sorted.Count - limit))) DeleteCheckpointFolder(d);
    }
}
