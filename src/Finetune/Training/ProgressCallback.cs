using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Finetune.Training;

/// <summary>
/// A progress bar over optimizer steps with rate, ETA, the last logged loss and learning rate, redrawn in place
/// on a terminal (Spectre.Console markup), one line per log entry when output is redirected.
/// </summary>
public sealed class ProgressCallback : TrainerCallback
{
    private readonly IAnsiConsole console;
    private readonly TextWriter writer;
    private readonly bool interactive;
    private readonly Stopwatch clock = new();
    private int startStep;
    private double? lastLoss;
    private double? lastLr;
    private int lastDrawnPercent = -1;
    private bool onBarLine;

    public ProgressCallback(TextWriter? output = null)
    {
        writer = output ?? Console.Out;
        interactive = (output == null || ReferenceEquals(output, Console.Out)) && !Console.IsOutputRedirected;
        console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output ?? Console.Out),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!interactive) console.Profile.Width = 240; // redirected output: never wrap the status line
    }

    public override void OnTrainBegin(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        startStep = state.GlobalStep;
        clock.Restart();
    }

    public override void OnStepEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (args.DisableTqdm) return;
        int percent = state.MaxSteps > 0 ? state.GlobalStep * 100 / state.MaxSteps : 0;
        if (!interactive && percent / 10 == lastDrawnPercent / 10 && state.GlobalStep != state.MaxSteps) return;
        lastDrawnPercent = percent;
        Draw(state);
    }

    public override void OnLog(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> logs)
    {
        if (logs.TryGetValue("loss", out double loss)) lastLoss = loss;
        if (logs.TryGetValue("learning_rate", out double lr)) lastLr = lr;
    }

    public override void OnEvaluate(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics) => EndLine();

    private void EndLine()
    {
        if (!interactive || !onBarLine) return;
        writer.WriteLine();
        onBarLine = false;
    }

    public override void OnTrainEnd(TrainingArguments args, TrainerState state, TrainerControl control)
    {
        if (!args.DisableTqdm) EndLine();
    }

    /// <summary>The status line: bar, steps, rate, elapsed, ETA, loss, lr.</summary>
    public string StatusLine(TrainerState state)
    {
        const int width = 30;
        int total = Math.Max(1, state.MaxSteps);
        int done = Math.Min(state.GlobalStep, total);
        int filled = done * width / total;
        double seconds = clock.Elapsed.TotalSeconds;
        int stepsRun = done - startStep;
        double rate = seconds > 0 ? stepsRun / seconds : 0;
        string eta = rate > 0 ? Format(TimeSpan.FromSeconds((total - done) / rate)) : "--:--";
        var line = $"{new string('#', filled)}{new string('-', width - filled)} {done}/{total} [{Format(clock.Elapsed)}<{eta}, {rate.ToString("0.00", CultureInfo.InvariantCulture)} it/s";
        if (lastLoss is double l) line += ", loss " + l.ToString("0.0000", CultureInfo.InvariantCulture);
        if (lastLr is double r) line += ", lr " + r.ToString("0.00e+0", CultureInfo.InvariantCulture);
        return line + "]";
    }

    private void Draw(TrainerState state)
    {
        string line = StatusLine(state);
        // A terminal redraws the bar in place (carriage return, written straight through so nothing re-wraps it);
        // redirected output gets one plain line per update.
        if (interactive)
        {
            writer.Write("\r" + line + "   ");
            writer.Flush();
            onBarLine = true;
        }
        else console.WriteLine(line);
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1
        ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}"
        : $"{t.Minutes:00}:{t.Seconds:00}";
}
