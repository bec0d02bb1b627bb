using System.Globalization;
using Finetune.Terminal;
using Finetune.Training;

namespace Finetune.Tests.Training;

/// <summary>The progress bar and the per-epoch table outside the recipe: a hand-written loop and a plain Trainer.</summary>
public class ProgressAndTableTests
{
    [Fact]
    public void AHandWrittenLoopDrawsOneLinePerTenthWhenRedirected()
    {
        var output = new StringWriter();
        using (var bar = new ProgressBar(20, output, unit: "batch"))
        {
            for (int i = 0; i < 20; i++) bar.Tick(loss: 1.0 / (i + 1), learningRate: 5e-5);
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Redirected output: a line at each tenth of the work (2/20, 4/20, ... 20/20), none in between.
        Assert.Equal(10, lines.Length);
        for (int k = 0; k < 10; k++) Assert.Contains($" {2 * (k + 1)}/20 [", lines[k]);
        Assert.StartsWith(new string('#', 30) + " 20/20 [", lines[^1]);
        Assert.Contains("batch/s, loss 0.0500, lr 5.00e-5]", lines[^1]);
    }

    [Fact]
    public void TheEpochTableAveragesTheStepLossesOfEachEpochAndPrintsARowPerEvaluation()
    {
        using var t = new TempDir();
        var args = new TrainingArguments
        {
            OutputDir = t.Path,
            PerDeviceTrainBatchSize = 8,
            NumTrainEpochs = 2,
            EvalStrategy = IntervalStrategy.Epoch,
            SaveStrategy = IntervalStrategy.No,
            DisableTqdm = true,
        };
        var output = new StringWriter();
        var table = new EpochTableCallback(output, f1Header: "F1 (macro)");
        var trainer = new Trainer(new ToyClassifier(), args, ToyClassifier.Data(40), ToyClassifier.Data(16), Trainer.AccuracyAndMacroF1, [table]);
        table.Attach(trainer);
        var losses = new List<float>();
        trainer.StepCompleted += r => losses.Add(r.Loss);
        trainer.Train();

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("Epoch  | Training Loss | Validation Loss | Accuracy | F1 (macro) |", lines[0]);
        Assert.Equal(2, table.Rows.Count);
        // 40 rows in batches of 8: five optimizer steps an epoch; each row's training loss is its epoch's mean.
        Assert.Equal(10, losses.Count);
        for (int e = 0; e < 2; e++)
        {
            double mean = losses.Skip(5 * e).Take(5).Select(l => (double)l).Average();
            Assert.Equal(mean, table.Rows[e].TrainingLoss!.Value, 12);
            Assert.StartsWith((e + 1).ToString(CultureInfo.InvariantCulture) + "      | " + mean.ToString("0.0000", CultureInfo.InvariantCulture), lines[e + 1]);
        }
    }
}
