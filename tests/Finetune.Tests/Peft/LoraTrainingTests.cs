using Finetune.Data;
using Finetune.Peft;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;
using Finetune.Training;
using Finetune.Weights;

namespace Finetune.Tests.Peft;

/// <summary>The Trainer over a LoRA model: checkpoints hold the adapter and its optimizer state only, and resume exactly.</summary>
// Alone: dropout draws from the process-wide generator the Trainer seeds, which a test running beside it would advance.
[Collection("Parallelism")]
public class LoraTrainingTests
{
    /// <summary>16 short rows of random ids, three classes in turn (shared with the strict-checkpoint tests).</summary>
    internal static Dataset Data()
    {
        var rng = new Generator(11);
        var rows = new int[16][];
        var labels = new int[16];
        for (int i = 0; i < 16; i++)
        {
            rows[i] = [2, .. Enumerable.Range(0, 4).Select(_ => 4 + rng.NextInt(30)), 3];
            labels[i] = i % 3;
        }
        return Dataset.FromDict(new Dictionary<string, System.Collections.IList> { ["input_ids"] = rows, ["label"] = labels });
    }

    private static TrainingArguments Args(string dir, int saveSteps) => new()
    {
        OutputDir = dir,
        PerDeviceTrainBatchSize = 4,
        MaxSteps = 6,
        LearningRate = 0.01,
        SaveStrategy = saveSteps > 0 ? IntervalStrategy.Steps : IntervalStrategy.No,
        SaveSteps = Math.Max(saveSteps, 1),
        EvalStrategy = IntervalStrategy.No,
        DisableTqdm = true,
    };

    private static PeftSequenceClassifier Model(ulong adapterSeed)
    {
        var inner = new SequenceClassifierAdapter(LoraTests.TinyBert());
        return new PeftSequenceClassifier(inner, PeftModel.GetPeftModel(inner.Model, new LoraConfig { LoraDropout = 0.1 }, new Generator(adapterSeed)));
    }

    private static float[][] Weights(PeftSequenceClassifier m) => m.Module.NamedParameters().Select(p => p.Value.ToArray()).ToArray();

    [Fact]
    public void CheckpointsHoldOnlyTheAdapterAndResumeExactly()
    {
        using var full = new TempDir();
        using var part = new TempDir();
        var uninterrupted = Model(1);
        new Trainer(uninterrupted, Args(full.Path, 0), Data()).Train();

        new Trainer(Model(1), Args(part.Path, 3), Data()).Train();
        string ckpt = Path.Combine(part.Path, "checkpoint-3");
        Assert.False(File.Exists(Path.Combine(ckpt, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(ckpt, LoraConfig.AdapterConfigName)));
        using (var adapter = SafeTensors.Read(Path.Combine(ckpt, LoraConfig.AdapterWeightsName)))
            Assert.All(adapter.Names, n => Assert.True(n.Contains(".lora_", StringComparison.Ordinal) || n.StartsWith("base_model.model.classifier.", StringComparison.Ordinal), n));
        using (var optimizer = SafeTensors.Read(Path.Combine(ckpt, "optimizer.safetensors")))
        {
            Assert.Equal(2 * (8 + 2), optimizer.Names.Count); // exp_avg and exp_avg_sq of 8 adapter matrices and the head's 2 tensors
            Assert.All(optimizer.Names, n => Assert.True(n.Contains(".lora_", StringComparison.Ordinal) || n.Contains("classifier.", StringComparison.Ordinal), n));
        }

        var resumed = Model(77); // other adapter values: the checkpoint must overwrite them
        new Trainer(resumed, Args(part.Path, 3), Data()).Train(ckpt);
        var a = Weights(uninterrupted);
        var b = Weights(resumed);
        var fresh = Weights(Model(1));
        var names = uninterrupted.Module.NamedParameters().Select(p => p.Name).ToArray();
        var differing = Enumerable.Range(0, a.Length).Where(i => !a[i].SequenceEqual(b[i])).Select(i => names[i]).ToList();
        Assert.True(differing.Count == 0, "differ after resuming: " + string.Join(", ", differing));
        // Training moved the adapters and the head only.
        for (int i = 0; i < a.Length; i++)
            Assert.Equal(names[i].Contains(".lora_", StringComparison.Ordinal) || names[i].StartsWith("classifier.", StringComparison.Ordinal), !a[i].SequenceEqual(fresh[i]));
    }
}
