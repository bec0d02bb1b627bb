using System.Text.Json;
using Finetune.Training;

namespace Finetune.Tests.Training;

/// <summary>
/// Resuming at max_steps (transformers' epochs_trained / steps_trained_in_current_epoch arithmetic), leftovers of
/// an interrupted save, and a cancelled run stopping between micro-batches.
/// </summary>
public class ResumeAndInterruptTests
{
    private static TrainingArguments Args(string outDir, int maxSteps, int ga = 1) => new()
    {
        OutputDir = outDir,
        PerDeviceTrainBatchSize = 4,
        GradientAccumulationSteps = ga,
        MaxSteps = maxSteps,
        LearningRate = 0.05,
        LoggingSteps = 1,
        SaveStrategy = IntervalStrategy.Steps,
        SaveSteps = maxSteps,
        EvalStrategy = IntervalStrategy.No,
        DisableTqdm = true,
    };

    private static float[][] Weights(ToyClassifier m) => m.NamedParameters().Select(p => p.Value.ToArray()).ToArray();

    // 40 rows in batches of 4: 10 micro-batches per epoch. Each case: (max_steps, gradient accumulation), so that the
    // last checkpoint sits inside an epoch (25; 13 with GA 2: 5 updates per epoch) or at an epoch end (20; 10 with GA 2).
    [Theory]
    [InlineData(25, 1)]
    [InlineData(20, 1)]
    [InlineData(13, 2)]
    [InlineData(10, 2)]
    public void ResumingFromTheLastCheckpointOfAFinishedRunTrainsNoFurtherStep(int maxSteps, int ga)
    {
        using var t = new TempDir();
        var data = ToyClassifier.Data(40);
        var first = new ToyClassifier();
        var done = new Trainer(first, Args(t.Path, maxSteps, ga), data).Train();
        Assert.Equal(maxSteps, done.GlobalStep);
        string ckpt = Path.Combine(t.Path, $"checkpoint-{maxSteps}");
        Assert.True(Directory.Exists(ckpt));

        var resumedModel = new ToyClassifier(seed: 99);
        var steps = new List<StepRecord>();
        var resumed = new Trainer(resumedModel, Args(t.Path, maxSteps, ga), data);
        resumed.StepCompleted += steps.Add;
        var result = resumed.Train(ckpt);
        Assert.Empty(steps);
        Assert.Equal(maxSteps, result.GlobalStep);
        Assert.Equal(Weights(first), Weights(resumedModel));
        Assert.False(Directory.Exists(Path.Combine(t.Path, $"checkpoint-{maxSteps + 1}")));
    }

    [Fact]
    public void AResumeInsideAnEpochSkipsTheTrainedBatchesAndStopsAtMaxSteps()
    {
        // GA 2 over 10 micro-batches: 5 updates per epoch; checkpoint-7 is update 2 of epoch 1, so the resumed run
        // skips 2 * 2 micro-batches of epoch 1 and trains updates 8..12, ending where the uninterrupted run ends.
        using var full = new TempDir();
        using var part = new TempDir();
        var data = ToyClassifier.Data(40);
        var uninterrupted = new ToyClassifier();
        var fullArgs = Args(full.Path, 12, ga: 2);
        fullArgs.SaveStrategy = IntervalStrategy.No;
        new Trainer(uninterrupted, fullArgs, data).Train();

        var partArgs = Args(part.Path, 12, ga: 2);
        partArgs.SaveSteps = 7;
        new Trainer(new ToyClassifier(), partArgs, data).Train();
        var resumedModel = new ToyClassifier(seed: 5);
        var steps = new List<StepRecord>();
        var resumed = new Trainer(resumedModel, partArgs, data);
        resumed.StepCompleted += steps.Add;
        resumed.Train(Path.Combine(part.Path, "checkpoint-7"));
        Assert.Equal(new[] { 8, 9, 10, 11, 12 }, steps.Select(s => s.Step));
        Assert.Equal(Weights(uninterrupted), Weights(resumedModel));
    }

    [Fact]
    public void LeftoversOfAnInterruptedSaveAreRemovedAtTheNextStartAndNeverResumedFrom()
    {
        using var t = new TempDir();
        var data = ToyClassifier.Data(40);
        var args = Args(t.Path, 10);
        args.SaveSteps = 5;
        new Trainer(new ToyClassifier(), args, data).Train();
        // What a kill leaves: a half-written checkpoint folder, a folder renamed for deletion, AtomicFile's hidden
        // temporary files in the output directory and inside a checkpoint.
        string half = Path.Combine(t.Path, "checkpoint-15.tmp-4242");
        Directory.CreateDirectory(half);
        File.WriteAllText(Path.Combine(half, "model.safetensors"), "half a file");
        string deleting = Path.Combine(t.Path, "checkpoint-5.tmp-4242-deleting");
        Directory.CreateDirectory(deleting);
        string hidden = Path.Combine(t.Path, ".model.safetensors.4242.0123abcd.tmp");
        File.WriteAllText(hidden, "partial");
        string hiddenInCheckpoint = Path.Combine(t.Path, "checkpoint-10", ".optimizer.safetensors.4242.89abcdef.tmp");
        File.WriteAllText(hiddenInCheckpoint, "partial");
        string userFile = Path.Combine(t.Path, ".notes.tmp");
        File.WriteAllText(userFile, "not ours");

        var log = new List<string>();
        var args2 = Args(t.Path, 12);
        args2.SaveSteps = 5;
        var resumed = new Trainer(new ToyClassifier(), args2, data) { Logger = log.Add };
        Assert.Equal(Path.Combine(t.Path, "checkpoint-10"), resumed.LastCompleteCheckpoint());
        var result = resumed.Train("last");
        Assert.Equal(12, result.GlobalStep);
        foreach (string p in new[] { half, deleting, hidden, hiddenInCheckpoint }) Assert.False(Path.Exists(p), p);
        Assert.True(File.Exists(userFile));
        Assert.Equal(4, log.Count);
        Assert.All(log, l => Assert.Contains("left by an interrupted save", l));
        Assert.Equal(new[] { userFile }, Directory.GetFileSystemEntries(t.Path, "*.tmp*", SearchOption.AllDirectories));
    }

    [Fact]
    public void ResavingAnExistingStepReplacesTheFolderWithoutLeftovers()
    {
        using var t = new TempDir();
        var data = ToyClassifier.Data(40);
        var args = Args(t.Path, 10);
        args.SaveSteps = 5;
        new Trainer(new ToyClassifier(), args, data).Train();
        // Resumed from checkpoint-5 while checkpoint-10 exists: step 10 is saved again over the old folder.
        new Trainer(new ToyClassifier(), args, data).Train(Path.Combine(t.Path, "checkpoint-5"));
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(t.Path, "checkpoint-10", "trainer_state.json"))).RootElement;
        Assert.Equal(10, state.GetProperty("global_step").GetInt32());
        Assert.Equal(new[] { "checkpoint-10", "checkpoint-5" }, Directory.GetDirectories(t.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ACancelledRunStopsBetweenMicroBatchesAndNamesTheLastCheckpoint()
    {
        using var t = new TempDir();
        var data = ToyClassifier.Data(40);
        var args = Args(t.Path, 30);
        args.SaveSteps = 5;
        using var cts = new CancellationTokenSource();
        var trainer = new Trainer(new ToyClassifier(), args, data) { CancellationToken = cts.Token };
        trainer.StepCompleted += r => { if (r.Step == 13) cts.Cancel(); };
        var e = Assert.Throws<TrainingInterruptedException>(() => trainer.Train());
        Assert.Equal(13, e.GlobalStep);
        Assert.Equal(Path.Combine(t.Path, "checkpoint-10"), e.LastCheckpoint);
        Assert.Equal("interrupted at step 13; last complete checkpoint: checkpoint-10; resume with --resume-from-checkpoint last", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(t.Path, "*.tmp*", SearchOption.AllDirectories));
    }
}
