using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Finetune.Training;

/// <summary>
/// A progress bar with count, rate, elapsed time, ETA and optionally the last loss and learning rate, for any loop
/// (a hand-written training loop, tokenizing, evaluating): redrawn in place on a terminal, one plain line per tenth
/// of the work when output is redirected. The Trainer's <see cref="ProgressCallback"/> draws through it.
/// </summary>
public sealed class ProgressBar : IDisposable
{
    private const int Width = 30;
    private readonly IAnsiConsole console;
    private readonly TextWriter writer;
    private readonly bool interactive;
    private readonly string unit;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private int startCount;
    private int lastDrawnTenth;
    private bool onBarLine;

    /// <param name="total">The count at which the work is done (steps, batches, rows).</param>
    /// <param name="output">Where to draw; default the console (redrawn in place when it is a terminal).</param>
    /// <param name="unit">The rate's unit ("it" for iterations, as tqdm says).</param>
    public ProgressBar(int total, TextWriter? output = null, string unit = "it")
    {
        Total = total;
        this.unit = unit;
        writer = output ?? Console.Out;
        interactive = (output == null || ReferenceEquals(output, Console.Out)) && !Console.IsOutputRedirected;
        console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!interactive) console.Profile.Width = 240; // redirected output: never wrap the status line
    }

    public int Total { get; set; }

    /// <summary>The count reached so far.</summary>
    public int Count { get; private set; }

    /// <summary>The last loss and learning rate shown on the line (null: not shown).</summary>
    public double? Loss { get; set; }

    public double? LearningRate { get; set; }

    /// <summary>Restarts the clock at <paramref name="count"/> (a resumed run's rate counts only what it ran).</summary>
    public void Restart(int count = 0)
    {
        Count = startCount = count;
        lastDrawnTenth = Total > 0 ? (int)((long)count * 10 / Total) : 0;
        clock.Restart();
    }

    /// <summary>One more unit done.</summary>
    public void Tick(double? loss = null, double? learningRate = null) => Update(Count + 1, loss, learningRate);

    /// <summary>Sets the count (and the loss / learning rate, when given) and redraws when the line changes enough.</summary>
    public void Update(int count, double? loss = null, double? learningRate = null)
    {
        Count = count;
        if (loss != null) Loss = loss;
        if (learningRate != null) LearningRate = learningRate;
        int tenth = Total > 0 ? (int)((long)count * 10 / Total) : 0;
        if (!interactive && tenth == lastDrawnTenth && count != Total) return;
        lastDrawnTenth = tenth;
        Draw();
    }

    /// <summary>The status line: bar, count, elapsed, ETA, rate, loss, lr.</summary>
    public string StatusLine()
    {
        int total = Math.Max(1, Total);
        int done = Math.Clamp(Count, 0, total);
        int filled = done * Width / total;
        double seconds = clock.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? (done - startCount) / seconds : 0;
        string eta = rate > 0 ? Format(TimeSpan.FromSeconds((total - done) / rate)) : "--:--";
        var line = $"{new string('#', filled)}{new string('-', Width - filled)} {done}/{total} [{Format(clock.Elapsed)}<{eta}, {rate.ToString("0.00", CultureInfo.InvariantCulture)} {unit}/s";
        if (Loss is double l) line += ", loss " + l.ToString("0.0000", CultureInfo.InvariantCulture);
        if (LearningRate is double r) line += ", lr " + r.ToString("0.00e+0", CultureInfo.InvariantCulture);
        return line + "]";
    }

    /// <summary>Ends the bar's line on a terminal so that what follows starts on its own line.</summary>
    public void EndLine()
    {
        if (!interactive || !onBarLine) return;
        writer.WriteLine();
        onBarLine = false;
    }

    public void Dispose() => EndLine();

    private void Draw()
    {
        string line = StatusLine();
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
