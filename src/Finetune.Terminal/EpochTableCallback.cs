using System.Globalization;
using Finetune.Training;

namespace Finetune.Terminal;

/// <summary>One row of the per-epoch table.</summary>
public sealed record EpochRow(double Epoch, double? TrainingLoss, double ValidationLoss, double Accuracy, double F1, double Precision, double Recall)
{
    /// <summary>The split evaluated each epoch ("validation", or "test" when the dataset has no validation split).</summary>
    public string EvalSplit { get; init; } = "validation";
}

/// <summary>
/// The notebooks' per-epoch table (Epoch | Training Loss | Validation Loss | Accuracy | F1 | Precision | Recall) as
/// a callback: a row after every evaluation, the training loss being the mean of the optimizer steps' losses since
/// the previous one. Add it to a Trainer's callbacks and <see cref="Attach"/> it to that trainer; rows are printed
/// to <c>output</c> when one is given and are always collected in <see cref="Rows"/>.
/// </summary>
public sealed class EpochTableCallback(TextWriter? output = null, string evalSplit = "validation", string f1Header = "F1") : TrainerCallback
{
    private readonly List<EpochRow> rows = [];
    private double lossSum;
    private int lossCount;

    public IReadOnlyList<EpochRow> Rows => rows;

    /// <summary>Raised with each new row.</summary>
    public event Action<EpochRow>? RowAdded;

    /// <summary>Receives the trainer's step losses (the table's training-loss column); returns this callback.</summary>
    public EpochTableCallback Attach(Trainer trainer)
    {
        trainer.StepCompleted += r =>
        {
            lossSum += r.Loss;
            lossCount++;
        };
        return this;
    }

    public override void OnEvaluate(TrainingArguments args, TrainerState state, TrainerControl control, IReadOnlyDictionary<string, double> metrics)
    {
        double? train = lossCount > 0 ? lossSum / lossCount : null;
        (lossSum, lossCount) = (0, 0);
        double Get(string k) => metrics.TryGetValue("eval_" + k, out double v) ? v : double.NaN;
        var row = new EpochRow(state.Epoch ?? 0, train, Get("loss"), Get("accuracy"), Get("f1"), Get("precision"), Get("recall")) { EvalSplit = evalSplit };
        if (output != null)
        {
            if (rows.Count == 0) output.WriteLine(Header(f1Header, evalSplit));
            output.WriteLine(Row(row, f1Header));
        }
        rows.Add(row);
        RowAdded?.Invoke(row);
    }

    /// <summary>The table's header; <paramref name="f1"/> says which F1 ("F1 (binary)", "F1 (macro)").</summary>
    public static string Header(string f1 = "F1", string evalSplit = "validation") =>
        $"{"Epoch",-6} | {"Training Loss",-13} | {(evalSplit == "validation" ? "Validation" : char.ToUpperInvariant(evalSplit[0]) + evalSplit[1..]) + " Loss",-15} | {"Accuracy",-8} | {f1.PadRight(8)} | {"Precision",-9} | {"Recall",-8}";

    public static string Row(EpochRow r, string f1 = "F1") =>
        $"{r.Epoch.ToString("0.##", CultureInfo.InvariantCulture),-6} | {(r.TrainingLoss is double t ? F4(t) : "No log"),-13} | {F4(r.ValidationLoss),-15} | {F4(r.Accuracy),-8} | {F4(r.F1).PadRight(Math.Max(8, f1.Length))} | {F4(r.Precision),-9} | {F4(r.Recall),-8}";

    private static string F4(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0000", CultureInfo.InvariantCulture);
}
