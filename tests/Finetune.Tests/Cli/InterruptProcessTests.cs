using System.Diagnostics;
using System.Runtime.InteropServices;
using Finetune.Tests.Hub;
using Finetune.Weights;

namespace Finetune.Tests.Cli;

/// <summary>
/// The built CLI as a child process, stopped by signals: Ctrl-C (SIGINT) says where the run stands and exits 130;
/// SIGKILL at random moments, each followed by a resume from the last checkpoint, ends where an uninterrupted run
/// ends, bit for bit, with no temporary file left.
/// </summary>
public class InterruptProcessTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private const int SigInt = 2;

    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    /// <summary>A one-layer BERT of width 32 on bert-base-uncased's vocabulary: small checkpoints, fast steps.</summary>
    private static string TinyConfig(TempDir t)
    {
        string path = t.File("tiny-config.json");
        File.WriteAllText(path, """
            {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 30522,
             "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
             "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
             "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
             "pad_token_id": 0}
            """);
        return path;
    }

    private static string Dataset(TempDir t, int trainRows)
    {
        string dir = t.File("data");
        Directory.CreateDirectory(dir);
        string[] words = ["good", "bad", "great", "awful", "fine", "dull", "film", "plot", "story", "fun", "slow", "sharp"];
        var rng = new Random(3);
        foreach (var (split, n) in new[] { ("train", trainRows), ("test", 16) })
        {
            var lines = new List<string> { "text,label" };
            for (int i = 0; i < n; i++)
                lines.Add(string.Join(' ', Enumerable.Range(0, rng.Next(3, 12)).Select(_ => words[rng.Next(words.Length)])) + "," + rng.Next(2));
            File.WriteAllLines(Path.Combine(dir, split + ".csv"), lines);
        }
        return dir;
    }

    private static List<string> TrainArgs(string config, string tokenizer, string data, string output, params string[] extra) =>
    [
        "train", "--model", config, "--from-scratch", "--tokenizer", tokenizer, "--dataset", data, "--output-dir", output,
        "--per-device-train-batch-size", "4", "--max-length", "32", "--eval-strategy", "no", "--save-strategy", "steps",
        "--save-steps", "10", "--logging-steps", "10", "--disable-tqdm", "true", .. extra,
    ];

    private static Process Start(IEnumerable<string> args) => Process.Start(HubTestBed.CliProcess(args, new Dictionary<string, string?>()))!;

    private static (int Code, string Out, string Err) Finish(Process p)
    {
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(RunBound))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"the CLI did not finish within {RunBound.TotalMinutes} minutes");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string[] Leftovers(string output) =>
        Directory.Exists(output) ? Directory.GetFileSystemEntries(output, "*.tmp*", SearchOption.AllDirectories) : [];

    // A run killed before its first checkpoint leaves only a checkpoint-10.tmp-{pid} folder: it starts afresh.
    private static bool HasCompleteCheckpoint(string output) =>
        Directory.Exists(output) && Directory.GetDirectories(output, "checkpoint-*").Any(d => Path.GetFileName(d)["checkpoint-".Length..].All(char.IsAsciiDigit));

    [SkippableFact]
    public void CtrlCStopsCleanlySaysWhereTheRunStandsAndExits130()
    {
        string tokenizer = SharedData.Require("models/bert-base-uncased");
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "sends a POSIX signal");
        using var t = new TempDir();
        string output = t.File("out");
        // Far more steps than the test waits for: the run is interrupted after its first checkpoint.
        using var p = Start(TrainArgs(TinyConfig(t), tokenizer, Dataset(t, 64), output, "--max-steps", "100000"));
        var clock = Stopwatch.StartNew();
        while (!Directory.Exists(Path.Combine(output, "checkpoint-10")) && !p.HasExited && clock.Elapsed < RunBound) Thread.Sleep(50);
        Assert.False(p.HasExited, "the run ended before its first checkpoint");
        Assert.Equal(0, kill(p.Id, SigInt));
        var (code, _, err) = Finish(p);

        Assert.Equal(130, code);
        var line = err.Split('\n').Single(l => l.StartsWith("interrupted at step ", StringComparison.Ordinal));
        Assert.Matches(@"^interrupted at step (\d+); last complete checkpoint: checkpoint-(\d+)0; resume with --resume-from-checkpoint last$", line.TrimEnd());
        var m = System.Text.RegularExpressions.Regex.Match(line, @"step (\d+); last complete checkpoint: (checkpoint-\d+)");
        int step = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        string last = m.Groups[2].Value;
        string highest = Directory.GetDirectories(output, "checkpoint-*").Select(Path.GetFileName)
            .OrderBy(n => int.Parse(n!["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture)).Last()!;
        Assert.Equal(highest, last);
        Assert.True(step >= 10);
        Assert.Empty(Leftovers(output));
    }

    [SkippableFact]
    public void KilledAtTenRandomMomentsAndResumedEndsBitIdenticalToAnUninterruptedRun()
    {
        string tokenizer = SharedData.Require("models/bert-base-uncased");
        using var t = new TempDir();
        string config = TinyConfig(t), data = Dataset(t, 160);
        // 160 rows in batches of 4, 2 epochs: 80 steps, a checkpoint every 10.
        string reference = t.File("reference"), killed = t.File("killed");
        var clock = Stopwatch.StartNew();
        var (code, _, err) = Finish(Start(TrainArgs(config, tokenizer, data, reference, "--num-train-epochs", "2")));
        Assert.True(code == 0, err);
        double full = clock.Elapsed.TotalSeconds;

        // Kill moments anywhere from start-up to the length of a whole run: loading, training steps, checkpoint
        // saves and the final save. A run that finishes before its moment starts over from nothing, so that every
        // one of the 10 kills lands inside a run.
        var rng = new Random(2024);
        int kills = 0;
        for (int attempt = 0; kills < 10 && attempt < 30; attempt++)
        {
            bool resume = HasCompleteCheckpoint(killed);
            var args = TrainArgs(config, tokenizer, data, killed, "--num-train-epochs", "2");
            if (resume) args.AddRange(["--resume-from-checkpoint", "last"]);
            using var p = Start(args);
            if (!p.WaitForExit(TimeSpan.FromSeconds(rng.NextDouble() * full)))
            {
                p.Kill();
                kills++;
                p.WaitForExit();
            }
            else
            {
                Assert.Equal(0, p.ExitCode);
                Directory.Delete(killed, recursive: true);
            }
        }
        Assert.Equal(10, kills);

        bool last = HasCompleteCheckpoint(killed);
        var final = TrainArgs(config, tokenizer, data, killed, "--num-train-epochs", "2");
        if (last) final.AddRange(["--resume-from-checkpoint", "last"]);
        (code, _, err) = Finish(Start(final));
        Assert.True(code == 0, err);

        Assert.Empty(Leftovers(killed));
        using var a = SafeTensors.Read(Path.Combine(reference, "model.safetensors"));
        using var b = SafeTensors.Read(Path.Combine(killed, "model.safetensors"));
        Assert.Equal(a.Names.Order(StringComparer.Ordinal), b.Names.Order(StringComparer.Ordinal));
        foreach (string name in a.Names) Assert.True(a.RawBytes(name).SequenceEqual(b.RawBytes(name)), $"{name} differs");
    }
}
