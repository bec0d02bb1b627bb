using System.Globalization;
using Finetune.Training;
using Spectre.Console;

namespace Finetune.Terminal;

/// <summary>
/// A progress bar with count, rate, elapsed time, ETA and optionally the last loss and learning rate, for any loop
/// (a hand-written training loop, tokenizing, evaluating): redrawn in place on a terminal, one plain line per tenth
/// of the work when output is redirected. Give it to the Trainer as <c>new ProgressCallback(new ProgressBar())</c>.
/// </summary>
public sealed class ProgressBar : IProgressReporter, IDisposable
{
    private const int Width = 30;
    private readonly IAnsiConsole console;
    private readonly TextWriter writer;
    private readonly bool interactive;
    private readonly ProgressTracker tracker;
    private ProgressUpdate? last;
    private int lastStart = -1;
    private int lastDrawnTenth;
    private bool onBarLine;

    /// <param name="total">The count at which the work is done (steps, batches, rows).</param>
    /// <param name="output">Where to draw; default the console (redrawn in place when it is a terminal).</param>
    /// <param name="unit">The rate's unit ("it" for iterations, as tqdm says).</param>
    public ProgressBar(int total = 0, TextWriter? output = null, string unit = "it")
    {
        tracker = new ProgressTracker(this, total, unit);
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

    public int Total
    {
        get => tracker.Total;
        set => tracker.Total = value;
    }

    /// <summary>The count reached so far.</summary>
    public int Count => tracker.Count;

    /// <summary>The last loss and learning rate shown on the line (null: not shown).</summary>
    public double? Loss
    {
        get => tracker.Loss;
        set => tracker.Loss = value;
    }

    public double? LearningRate
    {
        get => tracker.LearningRate;
        set => tracker.LearningRate = value;
    }

    /// <summary>Restarts the clock at <paramref name="count"/> (a resumed run's rate counts only what it ran).</summary>
    public void Restart(int count = 0) => tracker.Restart(count);

    /// <summary>One more unit done.</summary>
    public void Tick(double? loss = null, double? learningRate = null) => tracker.Tick(loss, learningRate);

    /// <summary>Sets the count (and the loss / learning rate, when given) and redraws when the line changes enough.</summary>
    public void Update(int count, double? loss = null, double? learningRate = null) => tracker.Update(count, loss, learningRate);

    /// <summary>Draws <paramref name="update"/>: every update on a terminal, at each tenth of the work when redirected.</summary>
    public void Report(in ProgressUpdate update)
    {
        last = update;
        int total = update.Total;
        // A restarted count (a resumed run) draws from the tenth it restarted in.
        if (update.Start != lastStart)
        {
            lastStart = update.Start;
            lastDrawnTenth = Tenth(update.Start, total);
        }
        int tenth = Tenth(update.Count, total);
        if (!interactive && tenth == lastDrawnTenth && update.Count != total) return;
        lastDrawnTenth = tenth;
        Draw(update);
    }

    public void Pause() => EndLine();

    /// <summary>The status line: bar, count, elapsed, ETA, rate, loss, lr.</summary>
    public string StatusLine() => StatusLine(last ?? tracker.Current());

    /// <summary>The status line of <paramref name="u"/>, tqdm's layout: bar, count, [elapsed&lt;ETA, rate, loss, lr].</summary>
    public static string StatusLine(in ProgressUpdate u)
    {
        int total = Math.Max(1, u.Total);
        int done = Math.Clamp(u.Count, 0, total);
        int filled = done * Width / total;
        string eta = u.Eta is TimeSpan left ? Format(left) : "--:--";
        var line = $"{new string('#', filled)}{new string('-', Width - filled)} {done}/{total} [{Format(u.Elapsed)}<{eta}, {u.Rate.ToString("0.00", CultureInfo.InvariantCulture)} {u.Unit}/s";
        if (u.Loss is double l) line += ", loss " + l.ToString("0.0000", CultureInfo.InvariantCulture);
        if (u.LearningRate is double r) line += ", lr " + r.ToString("0.00e+0", CultureInfo.InvariantCulture);
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

    private static int Tenth(int count, int total) => total > 0 ? (int)((long)count * 10 / total) : 0;

    private void Draw(in ProgressUpdate update)
    {
        string line = StatusLine(update);
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
