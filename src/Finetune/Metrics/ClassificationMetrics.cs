namespace Finetune.Metrics;

/// <summary>How per-class scores are combined, as sklearn's <c>average</c> argument.</summary>
public enum Average
{
    /// <summary>Only the positive label's scores (labels must lie in {0, 1}).</summary>
    Binary,
    /// <summary>Unweighted mean over the labels.</summary>
    Macro,
    /// <summary>Global counts of true positives, predictions and true labels.</summary>
    Micro,
    /// <summary>Mean over the labels weighted by their support.</summary>
    Weighted,
}

/// <summary>Precision, recall and F1 of one averaging mode.</summary>
public readonly record struct PrecisionRecallF1(double Precision, double Recall, double F1);

/// <summary>Per-label scores, labels in sorted order (sklearn's <c>average=None</c>).</summary>
public sealed class PerClassScores
{
    internal PerClassScores(int[] labels, double[] p, double[] r, double[] f1, long[] support, bool supportIsFloat)
    {
        Labels = labels;
        Precision = p;
        Recall = r;
        F1 = f1;
        Support = support;
        SupportIsFloat = supportIsFloat;
    }

    public IReadOnlyList<int> Labels { get; }
    public IReadOnlyList<double> Precision { get; }
    public IReadOnlyList<double> Recall { get; }
    public IReadOnlyList<double> F1 { get; }
    public IReadOnlyList<long> Support { get; }

    /// <summary>
    /// sklearn computes the counts in float64 when no sample is predicted correctly (its "pathological case"), and
    /// then prints supports as floats ("12.0"); kept so that reports match byte for byte.
    /// </summary>
    public bool SupportIsFloat { get; }
}

/// <summary>
/// Classification metrics computed as scikit-learn 1.2 computes them (float64, zero_division = 0): accuracy,
/// precision/recall/F1 with binary/macro/micro/weighted averaging, confusion matrix and Matthews correlation.
/// Labels are the sorted union of the true and predicted labels.
/// </summary>
public static class ClassificationMetrics
{
    public static double Accuracy(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred)
    {
        CheckLengths(yTrue, yPred);
        int correct = 0;
        for (int i = 0; i < yTrue.Length; i++) if (yTrue[i] == yPred[i]) correct++;
        return (double)correct / yTrue.Length;
    }

    /// <summary>The sorted union of the labels in both vectors (sklearn's unique_labels).</summary>
    public static int[] SortedLabels(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred)
    {
        var set = new SortedSet<int>();
        foreach (int v in yTrue) set.Add(v);
        foreach (int v in yPred) set.Add(v);
        return set.ToArray();
    }

    public static PrecisionRecallF1 PrecisionRecallF1(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, Average average, int posLabel = 1)
    {
        CheckLengths(yTrue, yPred);
        int[] labels = SortedLabels(yTrue, yPred);
        if (average == Average.Binary)
        {
            if (labels.Length > 2)
                throw FinetuneException.Invalid($"Binary averaging needs at most two labels but the labels are [{string.Join(", ", labels)}]; choose macro, micro or weighted.");
            if (Array.IndexOf(labels, posLabel) < 0 && labels.Length == 2)
                throw FinetuneException.Invalid($"The positive label {posLabel} is not one of the labels [{string.Join(", ", labels)}].");
            labels = new[] { posLabel };
        }
        Counts(yTrue, yPred, labels, out long[] tp, out long[] pred, out long[] truth);
        if (average == Average.Micro)
        {
            long t = 0, p = 0, r = 0;
            for (int i = 0; i < labels.Length; i++) { t += tp[i]; p += pred[i]; r += truth[i]; }
            tp = new[] { t };
            pred = new[] { p };
            truth = new[] { r };
        }
        Scores(tp, pred, truth, out double[] precision, out double[] recall, out double[] f1);
        if (average == Average.Weighted)
        {
            var w = new double[truth.Length];
            for (int i = 0; i < w.Length; i++) w[i] = truth[i];
            if (NumpyMath.Sum(w) == 0) return new(0, 0, 0);
            return new(NumpyMath.WeightedAverage(precision, w), NumpyMath.WeightedAverage(recall, w), NumpyMath.WeightedAverage(f1, w));
        }
        return new(NumpyMath.Mean(precision), NumpyMath.Mean(recall), NumpyMath.Mean(f1));
    }

    public static double Precision(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, Average average = Average.Binary, int posLabel = 1) =>
        PrecisionRecallF1(yTrue, yPred, average, posLabel).Precision;

    public static double Recall(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, Average average = Average.Binary, int posLabel = 1) =>
        PrecisionRecallF1(yTrue, yPred, average, posLabel).Recall;

    public static double F1(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, Average average = Average.Binary, int posLabel = 1) =>
        PrecisionRecallF1(yTrue, yPred, average, posLabel).F1;

    /// <summary>Scores for every label of the sorted union (or of <paramref name="labels"/>), with supports.</summary>
    public static PerClassScores PerClass(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, int[]? labels = null)
    {
        CheckLengths(yTrue, yPred);
        labels ??= SortedLabels(yTrue, yPred);
        Counts(yTrue, yPred, labels, out long[] tp, out long[] pred, out long[] truth);
        Scores(tp, pred, truth, out double[] precision, out double[] recall, out double[] f1);
        bool anyCorrect = false;
        for (int i = 0; i < yTrue.Length && !anyCorrect; i++) anyCorrect = yTrue[i] == yPred[i];
        return new PerClassScores(labels, precision, recall, f1, truth, supportIsFloat: !anyCorrect);
    }

    /// <summary>Rows are true labels, columns predicted labels, both in <paramref name="labels"/> order (default: sorted union).</summary>
    public static long[,] ConfusionMatrix(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, int[]? labels = null)
    {
        CheckLengths(yTrue, yPred);
        labels ??= SortedLabels(yTrue, yPred);
        var index = IndexOf(labels);
        var m = new long[labels.Length, labels.Length];
        for (int i = 0; i < yTrue.Length; i++)
            if (index.TryGetValue(yTrue[i], out int t) && index.TryGetValue(yPred[i], out int p)) m[t, p]++;
        return m;
    }

    /// <summary>Matthews correlation coefficient (multiclass form), 0 when undefined.</summary>
    public static double MatthewsCorrcoef(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred)
    {
        long[,] c = ConfusionMatrix(yTrue, yPred);
        int k = c.GetLength(0);
        var tSum = new double[k];
        var pSum = new double[k];
        double correct = 0;
        for (int i = 0; i < k; i++)
        {
            correct += c[i, i];
            for (int j = 0; j < k; j++) { tSum[i] += c[i, j]; pSum[j] += c[i, j]; }
        }
        double n = NumpyMath.Sum(pSum);
        double covYtYp = correct * n - NumpyMath.Dot(tSum, pSum);
        double covYpYp = n * n - NumpyMath.Dot(pSum, pSum);
        double covYtYt = n * n - NumpyMath.Dot(tSum, tSum);
        if (covYpYp * covYtYt == 0) return 0.0;
        return covYtYp / Math.Sqrt(covYtYt * covYpYp);
    }

    private static void Counts(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, int[] labels, out long[] tp, out long[] pred, out long[] truth)
    {
        var index = IndexOf(labels);
        tp = new long[labels.Length];
        pred = new long[labels.Length];
        truth = new long[labels.Length];
        for (int i = 0; i < yTrue.Length; i++)
        {
            bool hasT = index.TryGetValue(yTrue[i], out int t);
            bool hasP = index.TryGetValue(yPred[i], out int p);
            if (hasT) truth[t]++;
            if (hasP) pred[p]++;
            if (hasT && yTrue[i] == yPred[i]) tp[t]++;
        }
    }

    // sklearn's _prf_divide with zero_division=0, then F = (1+b^2)*p*r / (b^2*p + r) with a zero denominator set to 1.
    private static void Scores(long[] tp, long[] pred, long[] truth, out double[] precision, out double[] recall, out double[] f1)
    {
        int n = tp.Length;
        precision = new double[n];
        recall = new double[n];
        f1 = new double[n];
        for (int i = 0; i < n; i++)
        {
            precision[i] = pred[i] == 0 ? 0.0 : (double)tp[i] / pred[i];
            recall[i] = truth[i] == 0 ? 0.0 : (double)tp[i] / truth[i];
            double denom = 1.0 * precision[i] + recall[i];
            if (denom == 0.0) denom = 1;
            f1[i] = 2.0 * precision[i] * recall[i] / denom;
        }
    }

    private static Dictionary<int, int> IndexOf(int[] labels)
    {
        var d = new Dictionary<int, int>(labels.Length);
        for (int i = 0; i < labels.Length; i++) d[labels[i]] = i;
        return d;
    }

    internal static void CheckLengths(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred)
    {
        if (yTrue.Length != yPred.Length)
            throw FinetuneException.Invalid($"The label vectors differ in length: {yTrue.Length} true labels but {yPred.Length} predictions.");
        if (yTrue.Length == 0) throw FinetuneException.Invalid("The label vectors are empty.");
    }
}
