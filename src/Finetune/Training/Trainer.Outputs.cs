using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Training;

public sealed partial class Trainer
{
    /// <summary>transformers' `trainer.save_state()`: trainer_state.json (the whole log_history) in the output folder.</summary>
    public void SaveState() => State.SaveToJson(Path.Combine(Args.OutputDir, "trainer_state.json"));

    /// <summary>
    /// transformers' `trainer.save_metrics(split, metrics, combined=True)`: `{split}_results.json` with the flat
    /// prefixed keys (train_loss, eval_accuracy, test_f1...), also merged into all_results.json; keys sorted.
    /// </summary>
    public void SaveMetrics(string split, IReadOnlyDictionary<string, double> metrics, bool combined = true)
    {
        var options = new JsonSerializerOptions { WriteIndented = true, IndentSize = 4 };
        AtomicFile.WriteAllText(Path.Combine(Args.OutputDir, split + "_results.json"), Sorted(metrics).ToJsonString(options) + "\n");
        if (!combined) return;
        string all = Path.Combine(Args.OutputDir, "all_results.json");
        var merged = new Dictionary<string, double>(StringComparer.Ordinal);
        if (File.Exists(all) && JsonNode.Parse(File.ReadAllText(all)) is JsonObject previous)
            foreach (var (k, v) in previous)
                if (v is JsonValue jv && jv.TryGetValue(out double d)) merged[k] = d;
        foreach (var (k, v) in metrics) merged[k] = v;
        AtomicFile.WriteAllText(all, Sorted(merged).ToJsonString(options) + "\n");
    }

    private static JsonObject Sorted(IReadOnlyDictionary<string, double> metrics)
    {
        var o = new JsonObject();
        foreach (var k in metrics.Keys.Order(StringComparer.Ordinal)) o[k] = double.IsFinite(metrics[k]) ? metrics[k] : null;
        return o;
    }
}
