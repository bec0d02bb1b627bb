using System.Text.Json;
using Finetune.Data;
using Finetune.Models;
using Finetune.Training;
using Finetune.Weights;

namespace Finetune.Tests.Training;

/// <summary>golden/training: two-epoch HF Trainer runs (GA 1 and 2) from one init on 512 pre-tokenized rows.</summary>
public class TrainingGoldenTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("bs16_e2")]
    [InlineData("bs16_e2_ga2")]
    public void TrainerTrajectoryMatchesTransformers(string run)
    {
        string root = SharedData.Require("golden/training");
        string dir = Path.Combine(root, run);
        using var tmp = new TempDir();
        var args = TrainingArguments.Load(Path.Combine(dir, "training_args.json"));
        args.OutputDir = tmp.Path;
        args.TrainSamplingStrategy = TrainSamplingStrategy.Sequential; // the reference overrides _get_train_sampler
        var model = new SequenceClassifierAdapter(AutoModelForSequenceClassification.FromPretrained(Path.Combine(root, "init")));
        var train = Dataset.FromFile(Path.Combine(root, "data/train.jsonl"));
        var validation = Dataset.FromFile(Path.Combine(root, "data/validation.jsonl"));
        var trainer = new Trainer(model, args, train, validation, Trainer.AccuracyAndMacroF1);
        var records = new List<StepRecord>();
        trainer.StepCompleted += records.Add;
        trainer.Train();

        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "steps_exact.json"))).RootElement.EnumerateArray().ToArray();
        Assert.Equal(expected.Length, records.Count);
        double maxLoss = 0, maxNorm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            var e = expected[i];
            maxLoss = Math.Max(maxLoss, Math.Abs(e.GetProperty("loss").GetDouble() - records[i].Loss) / e.GetProperty("loss").GetDouble());
            maxNorm = Math.Max(maxNorm, Math.Abs(e.GetProperty("grad_norm_before_clip").GetDouble() - records[i].GradNorm) / e.GetProperty("grad_norm_before_clip").GetDouble());
            Rel(e.GetProperty("loss").GetDouble(), records[i].Loss, 1e-3, $"step {i + 1} loss");
            Rel(e.GetProperty("grad_norm_before_clip").GetDouble(), records[i].GradNorm, 1e-3, $"step {i + 1} grad norm");
            Assert.True(Math.Abs(e.GetProperty("lr_used").GetDouble() - records[i].LrUsed) <= 1e-12 * Math.Abs(records[i].LrUsed) + 1e-20, $"step {i + 1} lr");
        }

        // log_history: per-step rounded loss and post-step lr, per-epoch eval metrics.
        var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "log_history.json"))).RootElement.EnumerateArray().ToArray();
        var mine = trainer.State.LogHistory;
        Assert.Equal(history.Length, mine.Count);
        for (int i = 0; i < history.Length; i++)
        {
            foreach (var kv in history[i].EnumerateObject())
            {
                if (kv.Name.Contains("runtime") || kv.Name.Contains("per_second") || kv.Name == "total_flos") continue;
                Assert.True(mine[i].ContainsKey(kv.Name), $"entry {i} lacks {kv.Name}");
                double want = kv.Value.GetDouble(), got = mine[i][kv.Name];
                if (kv.Name == "loss") Assert.True(Math.Abs(want - got) <= 1.01e-4, $"entry {i} loss {got} vs {want}");
                else if (kv.Name is "eval_loss" or "train_loss") Rel(want, got, 1e-3, $"entry {i} {kv.Name}");
                else Assert.True(Math.Abs(want - got) <= 1e-12 * Math.Abs(want), $"entry {i} {kv.Name}: {got} vs {want}");
            }
        }

        var predicted = trainer.Predict(validation);
        using var golden = SafeTensors.Read(Path.Combine(dir, "eval_logits.safetensors"));
        float[] logits = golden.ReadFloat("logits");
        Assert.Equal(logits.Length, predicted.Predictions.Length);
        double maxLogit = 0;
        for (int i = 0; i < logits.Length; i++) maxLogit = Math.Max(maxLogit, Math.Abs(logits[i] - predicted.Predictions[i]));
        output.WriteLine($"{run}: max rel step loss diff {maxLoss:E2}, max rel grad norm diff {maxNorm:E2}, max abs eval logit diff {maxLogit:E2}");
        for (int i = 0; i < logits.Length; i++)
            Assert.True(Math.Abs(logits[i] - predicted.Predictions[i]) <= 1e-3, $"logit {i}: {predicted.Predictions[i]} vs {logits[i]}");
        var final = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "final_eval_metrics.json"))).RootElement;
        foreach (var kv in final.EnumerateObject())
        {
            if (kv.Name == "test_loss") Rel(kv.Value.GetDouble(), predicted.Metrics[kv.Name], 1e-3, kv.Name);
            else Assert.Equal(kv.Value.GetDouble(), predicted.Metrics[kv.Name], 12);
        }
    }

    private static void Rel(double want, double got, double rel, string what) =>
        Assert.True(Math.Abs(want - got) <= rel * Math.Abs(want), $"{what}: {got:R} vs {want:R}");
}
