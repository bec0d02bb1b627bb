using Finetune.Terminal;
using Finetune.Training;

namespace Finetune.Tests.Training;

/// <summary>The library's console-free progress: what the Trainer and a tracker report, and the rate and ETA of a report.</summary>
public class ProgressReporterTests
{
    private sealed class Recorder : IProgressReporter
    {
        public List<ProgressUpdate> Updates { get; } = [];
        public int Pauses { get; private set; }
        public void Report(in ProgressUpdate update) => Updates.Add(update);
        public void Pause() => Pauses++;
    }

    [Fact]
    public void RateAndEtaCountOnlyWhatRanSinceTheStart()
    {
        // 5 of 20 in 10 s: 0.5/s, 15 left → 30 s.
        var fresh = new ProgressUpdate(5, 20, 0, TimeSpan.FromSeconds(10), "it");
        Assert.Equal(0.5, fresh.Rate, 12);
        Assert.Equal(TimeSpan.FromSeconds(30), fresh.Eta);
        // Resumed at 4: 6 of 20 after 4 s is 2 units, 0.5/s; 14 left → 28 s.
        var resumed = new ProgressUpdate(6, 20, 4, TimeSpan.FromSeconds(4), "it");
        Assert.Equal(0.5, resumed.Rate, 12);
        Assert.Equal(TimeSpan.FromSeconds(28), resumed.Eta);
        // No time yet: no rate and no ETA.
        var start = new ProgressUpdate(0, 20, 0, TimeSpan.Zero, "it");
        Assert.Equal(0, start.Rate);
        Assert.Null(start.Eta);
        // tqdm's layout: 5/20 fills 7 of the 30 cells.
        Assert.Equal(new string('#', 7) + new string('-', 23) + " 5/20 [00:10<00:30, 0.50 it/s]", ProgressBar.StatusLine(fresh));
    }

    [Fact]
    public void TheTrainerReportsEveryStepAndPausesAtEachEvaluationAndTheEnd()
    {
        using var t = new TempDir();
        var args = new TrainingArguments
        {
            OutputDir = t.Path,
            PerDeviceTrainBatchSize = 8,
            NumTrainEpochs = 2,
            EvalStrategy = IntervalStrategy.Epoch,
            SaveStrategy = IntervalStrategy.No,
            LoggingStrategy = IntervalStrategy.Steps,
            LoggingSteps = 5,
        };
        var recorder = new Recorder();
        var trainer = new Trainer(new ToyClassifier(), args, ToyClassifier.Data(40), ToyClassifier.Data(16), Trainer.AccuracyAndMacroF1, [new ProgressCallback(recorder)]);
        var losses = new List<float>();
        trainer.StepCompleted += r => losses.Add(r.Loss);
        trainer.Train();

        // 40 rows in batches of 8 for two epochs: ten optimizer steps, each reported once, out of ten.
        Assert.Equal(Enumerable.Range(1, 10), recorder.Updates.Select(u => u.Count));
        Assert.All(recorder.Updates, u => Assert.Equal(10, u.Total));
        Assert.All(recorder.Updates, u => Assert.Equal(0, u.Start));
        Assert.True(recorder.Updates[^1].IsDone);
        // Two evaluations and the end of training.
        Assert.Equal(3, recorder.Pauses);
        // Step 5's report comes before step 5 logs; from step 6 on the bar shows the loss logged at step 5, the mean
        // of steps 1-5 rounded to 4 decimals (summed in float, as transformers' tr_loss).
        Assert.Null(recorder.Updates[4].Loss);
        Assert.Equal(losses.Take(5).Average(l => (double)l), recorder.Updates[5].Loss!.Value, 0.00006);
    }

    [Fact]
    public void AResumedBarDrawsFromTheTenthItRestartedIn()
    {
        var output = new StringWriter();
        using (var bar = new ProgressBar(20, output))
        {
            bar.Restart(10);
            for (int i = 0; i < 10; i++) bar.Tick();
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Redirected: the tenths after the restart (12, 14, 16, 18, 20 of 20), not the five before it.
        Assert.Equal([" 12/20 [", " 14/20 [", " 16/20 [", " 18/20 [", " 20/20 ["], lines.Select(l => l.Substring(30, 8)));
    }
}
