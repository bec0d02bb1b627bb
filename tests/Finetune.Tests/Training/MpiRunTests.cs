using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Finetune.Weights;

namespace Finetune.Tests.Training;

/// <summary>
/// `mpirun -np 2 finetune train` on loopback: equal to one process with the global batch, and a killed rank
/// ending the job. Skips with a message only where Open MPI's mpirun is not installed.
/// </summary>
/// <remarks>
/// Each job runs several processes whose collectives wait on each other, so these tests run alone (no other test
/// class in parallel), with ranks not bound to cores (mpirun binds each rank to one core by default, and on a
/// many-core machine every test job would then share cores 0 and 1), and with every time limit a guard against a
/// hang that a loaded machine does not reach, never a measure of speed.
/// </remarks>
[Collection("MPI jobs")]
public class MpiRunTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Finetune.Cli");

    private static string RequireMpirun()
    {
        string? found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);
        Skip.If(found == null, "mpirun not found: install Open MPI (apt-get install openmpi-bin libopenmpi-dev; .ci/install-deps does) to run the MPI tests");
        return found!;
    }

    // A tiny BERT with dropout off (the golden trajectories' config) trained from scratch on their 512 rows, in order.
    private static List<string> Recipe(string outputDir)
    {
        string shared = SharedData.Require("golden/training");
        return
        [
            "train", "--model", Path.Combine(shared, "init", "config.json"), "--from-scratch",
            "--tokenizer", SharedData.Require("models/bert-base-uncased"), "--dataset", Path.Combine(shared, "data"),
            "--max-length", "64", "--max-eval-samples", "64", "--train-sampling-strategy", "sequential",
            "--learning-rate", "5e-4", "--eval-strategy", "no", "--disable-tqdm", "--output-dir", outputDir,
        ];
    }

    private static ProcessStartInfo Mpirun(string mpirun, IEnumerable<string> args, string marker)
    {
        var psi = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-np", "2", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", Cli })
            psi.ArgumentList.Add(a);
        foreach (string a in args) psi.ArgumentList.Add(a);
        // CI runs as root, which mpirun refuses unless told twice.
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["FINETUNE_TEST_JOB"] = marker;
        // mpirun sends the surviving ranks SIGTERM and, by default, SIGKILL one second later; rank 0 names the dead
        // rank in its SIGTERM handler, which a loaded machine may not schedule within a second. mpirun waits this
        // long for each rank in turn, so the job still ends within seconds.
        psi.Environment["OMPI_MCA_odls_base_sigkill_timeout"] = "5";
        return psi;
    }

    private static (int Code, string Output) RunToEnd(ProcessStartInfo psi, TimeSpan limit)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var text = new StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (text) text.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (text) text.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(limit)) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{psi.FileName} ran past {limit}:\n{text}"); }
        p.WaitForExit();
        return (p.ExitCode, text.ToString());
    }

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(2)]
    public void TwoRanksOfSixteenEqualOneProcessOfThirtyTwo(int accumulation)
    {
        string mpirun = RequireMpirun();
        using var tmp = new TempDir();
        string single = Path.Combine(tmp.Path, "single"), ranks = Path.Combine(tmp.Path, "ranks");
        string[] common = ["--max-steps", "4", "--save-strategy", "no", "--gradient-accumulation-steps", accumulation.ToString(System.Globalization.CultureInfo.InvariantCulture)];

        var one = new ProcessStartInfo(Cli);
        foreach (string arg in Recipe(single).Concat(common).Concat(["--per-device-train-batch-size", "32", "--step-log", single + ".steps"])) one.ArgumentList.Add(arg);
        var (code1, out1) = RunToEnd(one, HangGuard);
        Assert.True(code1 == 0, out1);
        var (code2, out2) = RunToEnd(Mpirun(mpirun, Recipe(ranks).Concat(common).Concat(["--per-device-train-batch-size", "16", "--step-log", ranks + ".steps"]), "eq"), HangGuard);
        Assert.True(code2 == 0, out2);
        Assert.Contains("on 2 ranks (global batch " + (32 * accumulation), out2);

        var a = File.ReadAllLines(single + ".steps").Select(l => JsonNode.Parse(l)!).ToArray();
        var b = File.ReadAllLines(ranks + ".steps").Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.Equal(4, a.Length);
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Rel((double)a[i]["loss"]!, (double)b[i]["loss"]!, 1e-5, $"step {i + 1} loss");
            Rel((double)a[i]["grad_norm"]!, (double)b[i]["grad_norm"]!, 1e-5, $"step {i + 1} grad norm");
            Assert.Equal((double)a[i]["lr"]!, (double)b[i]["lr"]!);
        }

        // Final weights: the whole model's relative difference. Attention key biases are left out: softmax ignores a
        // shift of all scores, so their exact gradient is zero and what they hold is rounding noise that Adam's
        // normalisation scales up to learning-rate-sized steps in any two runs that sum in different orders.
        using var wa = SafeTensors.Read(Path.Combine(single, "model.safetensors"));
        using var wb = SafeTensors.Read(Path.Combine(ranks, "model.safetensors"));
        double diff = 0, norm = 0;
        foreach (string name in wa.Names.Where(n => !n.EndsWith("attention.self.key.bias", StringComparison.Ordinal)))
        {
            float[] x = wa.ReadFloat(name), y = wb.ReadFloat(name);
            for (int j = 0; j < x.Length; j++) { diff += (double)(x[j] - y[j]) * (x[j] - y[j]); norm += (double)x[j] * x[j]; }
        }
        double rel = Math.Sqrt(diff / norm);
        output.WriteLine($"accumulation {accumulation}: final weights relative difference {rel:E2}");
        Assert.True(rel <= 1e-5, $"final weights differ by {rel:E2} (relative)");

        // The sharded, gathered evaluation equals the single process's.
        var ma = JsonNode.Parse(File.ReadAllText(Path.Combine(single, "metrics.json")))!["validation"]!;
        var mb = JsonNode.Parse(File.ReadAllText(Path.Combine(ranks, "metrics.json")))!["validation"]!;
        Rel((double)ma["test_loss"]!, (double)mb["test_loss"]!, 1e-5, "test_loss");
        Assert.Equal((double)ma["test_accuracy"]!, (double)mb["test_accuracy"]!);
    }

    /// <summary>Starts the job with its stdout and stderr collected into <paramref name="text"/> as they come.</summary>
    private static Process StartCollecting(ProcessStartInfo psi, StringBuilder text)
    {
        var job = Process.Start(psi)!;
        job.OutputDataReceived += (_, e) => { lock (text) text.AppendLine(e.Data); };
        job.ErrorDataReceived += (_, e) => { lock (text) text.AppendLine(e.Data); };
        job.BeginOutputReadLine();
        job.BeginErrorReadLine();
        return job;
    }

    /// <summary>Waits until the running job has written <paramref name="checkpoint"/> (or has ended).</summary>
    private static void WaitForCheckpoint(Process job, string checkpoint, StringBuilder text)
    {
        var wait = Stopwatch.StartNew();
        while (!Directory.Exists(checkpoint) && !job.HasExited && wait.Elapsed < HangGuard) Thread.Sleep(100);
        Assert.True(Directory.Exists(checkpoint), "no checkpoint was written:\n" + text);
    }

    [SkippableFact]
    public void AKilledRankEndsTheJobWithRankZerosMessageAndResumeContinues()
    {
        string mpirun = RequireMpirun();
        using var tmp = new TempDir();
        string dir = Path.Combine(tmp.Path, "run");
        string marker = Guid.NewGuid().ToString("N");
        string[] saving = ["--per-device-train-batch-size", "8", "--max-steps", "2000", "--save-strategy", "steps", "--save-steps", "3", "--save-total-limit", "2"];
        var psi = Mpirun(mpirun, Recipe(dir).Concat(saving), marker);
        var text = new StringBuilder();
        using var job = StartCollecting(psi, text);
        try
        {
            WaitForCheckpoint(job, Path.Combine(dir, "checkpoint-6"), text);
            int victim = FindRank(marker, 1);
            Process.GetProcessById(victim).Kill();
            var clock = Stopwatch.StartNew();
            Assert.True(job.WaitForExit(TimeSpan.FromMinutes(2)), "the job did not end after rank 1 died:\n" + text);
            job.WaitForExit();
            output.WriteLine($"the job ended {clock.Elapsed.TotalSeconds:0.0} s after rank 1 was killed, exit {job.ExitCode}");
            string log;
            lock (text) log = text.ToString();
            // Rank 0's process exits 1, but mpirun returns its own status: Open MPI's mpirun (4.1) reports the first
            // rank that ended abnormally, here the one killed by SIGKILL, as 128 + 9; it learns of that death
            // (its own child) before rank 0 can exit, so no setting of ours makes it 1. A launcher that reports rank
            // 0's status instead returns 1.
            Assert.True(job.ExitCode is 1 or 128 + 9, $"exit {job.ExitCode}:\n{log}");
            Assert.Contains($"error: rank 0:", log);
            Assert.Contains($"rank 1 (pid {victim}) died", log);
        }
        finally
        {
            if (!job.HasExited) job.Kill(entireProcessTree: true);
        }

        // The last complete checkpoint is whole: every file there and readable, its step as named.
        var last = Directory.GetDirectories(dir, "checkpoint-*").Where(d => !d.Contains(".tmp", StringComparison.Ordinal))
            .Select(d => (Dir: d, Step: int.Parse(Path.GetFileName(d)["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture))).MaxBy(x => x.Step);
        using (var weights = SafeTensors.Read(Path.Combine(last.Dir, "model.safetensors")))
            foreach (string name in weights.Names) Assert.All(weights.ReadFloat(name), v => Assert.True(float.IsFinite(v)));
        using (var opt = SafeTensors.Read(Path.Combine(last.Dir, "optimizer.safetensors")))
            Assert.NotEmpty(opt.Names);
        Assert.Equal(last.Step, (int)JsonNode.Parse(File.ReadAllText(Path.Combine(last.Dir, "trainer_state.json")))!["global_step"]!);

        // Resuming with the same number of ranks continues from it.
        string[] resume = ["--per-device-train-batch-size", "8", "--max-steps", (last.Step + 2).ToString(System.Globalization.CultureInfo.InvariantCulture), "--save-strategy", "no", "--resume-from-checkpoint", last.Dir];
        var (code, log2) = RunToEnd(Mpirun(mpirun, Recipe(dir).Concat(resume), marker + "r"), HangGuard);
        Assert.True(code == 0, log2);
        Assert.Contains($"global_step {last.Step + 2}", log2);
    }

    [SkippableFact]
    public void AHungRankTimesOutWithExitOneAndRankZeroNamesIt()
    {
        string mpirun = RequireMpirun();
        using var tmp = new TempDir();
        string dir = Path.Combine(tmp.Path, "run");
        string marker = Guid.NewGuid().ToString("N");
        string[] saving = ["--per-device-train-batch-size", "8", "--max-steps", "2000", "--save-strategy", "steps", "--save-steps", "3", "--save-total-limit", "1"];
        var psi = Mpirun(mpirun, Recipe(dir).Concat(saving), marker);
        // Long enough that no collective of a healthy job on a loaded machine (a checkpoint save included) waits so long.
        psi.Environment["FINETUNE_MPI_TIMEOUT"] = "30";
        var text = new StringBuilder();
        using var job = StartCollecting(psi, text);
        try
        {
            WaitForCheckpoint(job, Path.Combine(dir, "checkpoint-3"), text);
            // SIGSTOP: rank 1 stays alive but never reaches the next collective, as a hung or unreachable host would.
            using (var stop = Process.Start("kill", ["-STOP", FindRank(marker, 1).ToString(System.Globalization.CultureInfo.InvariantCulture)])) stop.WaitForExit();
            Assert.True(job.WaitForExit(TimeSpan.FromMinutes(3)), "the job did not end after rank 1 hung:\n" + text);
            job.WaitForExit();
            string log;
            lock (text) log = text.ToString();
            Assert.True(job.ExitCode == 1, $"exit {job.ExitCode}:\n{log}");
            Assert.Contains("did not complete within 30 s", log);
            // Stopped while computing it never arrives; stopped inside a collective it no longer answers the ping.
            Assert.Matches("rank 1 (did not reach the|stopped responding inside the)", log);
        }
        finally
        {
            if (!job.HasExited) job.Kill(entireProcessTree: true);
        }
    }

    // The process mpirun started for this job (FINETUNE_TEST_JOB) as the given rank.
    private static int FindRank(string marker, int rank)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            foreach (string proc in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(proc), out int pid)) continue;
                string env;
                try { env = File.ReadAllText(Path.Combine(proc, "environ")); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                var vars = env.Split('\0');
                if (vars.Contains("FINETUNE_TEST_JOB=" + marker) && vars.Contains($"OMPI_COMM_WORLD_RANK={rank}")) return pid;
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"rank {rank} of the job was not found");
    }

    // A bound on how long a job may run before the test calls it hung; far beyond a loaded machine's time.
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(15);

    private static void Rel(double want, double got, double rel, string what) =>
        Assert.True(Math.Abs(want - got) <= rel * Math.Abs(want), $"{what}: {got:R} vs {want:R}");
}

/// <summary>The MPI job tests run alone: their ranks wait on each other, and other tests' load would only slow them.</summary>
[CollectionDefinition("MPI jobs", DisableParallelization = true)]
public sealed class MpiJobsCollection;
