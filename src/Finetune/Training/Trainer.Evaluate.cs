using System.Diagnostics;
using Finetune.Data;
using Finetune.Tensors;

namespace Finetune.Training;

public sealed partial class Trainer
{
    /// <summary>
    /// Runs the evaluation set: eval_loss (mean over rows of each batch's loss, float32 as transformers),
    /// eval_&lt;metric&gt; from ComputeMetrics, eval_runtime, eval_samples_per_second, eval_steps_per_second; logs them.
    /// </summary>
    public Dictionary<string, double> Evaluate(Dataset? evalDataset = null, string metricKeyPrefix = "eval")
    {
        var data = evalDataset ?? EvalDataset ?? throw FinetuneException.Invalid("Evaluate() needs an evaluation dataset.");
        var output = PredictionLoop(data, metricKeyPrefix);
        var metrics = new Dictionary<string, double>(output.Metrics);
        Log(metrics); // adds "epoch", which transformers' evaluate() returns too
        Handler.OnEvaluate(Args, State, Control, metrics);
        return metrics;
    }

    /// <summary>Logits, label ids and test_ metrics for a dataset (nothing is logged).</summary>
    public PredictionOutput Predict(Dataset testDataset, string metricKeyPrefix = "test")
    {
        var output = PredictionLoop(testDataset, metricKeyPrefix);
        Handler.OnPredict(Args, State, Control, output.Metrics);
        return output;
    }

    private PredictionOutput PredictionLoop(Dataset data, string prefix)
    {
        int n = data.NumRows;
        if (n == 0) throw FinetuneException.Invalid("The evaluation dataset is empty.");
        var clock = Stopwatch.StartNew();
        model.Module.Eval();
        int bs = Args.PerDeviceEvalBatchSize;
        int numLabels = model.NumLabels;
        var logits = new float[n * numLabels];
        var rowLosses = new float[n];
        // transformers' get_eval_dataloader: dataset order, the same collator, no worker threads.
        var loader = new DataLoader(data, collator, bs, prefetch: 0);
        var columns = loader.Columns;
        // Labels go into the batches only when every row has one (as the loss needs).
        bool hasLabels = columns.HasLabels;
        if (!hasLabels && columns.IntLabels != null) loader = new DataLoader(data.RemoveColumns(LabelColumn(data)), collator, bs, prefetch: 0);
        int[]? labelIds = hasLabels ? (int[]?)columns.IntLabels?.Clone() : null;
        float[]? floatLabels = hasLabels ? (float[]?)columns.FloatLabels?.Clone() ?? Flatten(columns.MultiLabels) : null;
        int steps = 0;
        using (Tensor.NoGrad())
        {
            for (int batchIndex = 0; batchIndex < loader.Count; batchIndex++)
            {
                ThrowIfInterrupted();
                int start = batchIndex * bs, end = Math.Min(n, start + bs);
                steps++;
                if (!OwnsEvalBatch(batchIndex)) continue;
                var batch = loader.BatchAt(batchIndex);
                using var scope = TensorScope.Begin();
                var output = model.Forward(batch);
                output.Logits.Span.CopyTo(logits.AsSpan(start * numLabels, (end - start) * numLabels));
                if (hasLabels)
                {
                    float loss = ComputeLoss(batch, output).Item();
                    for (int i = start; i < end; i++) rowLosses[i] = loss;
                }
            }
        }
        GatherEvaluation(logits, rowLosses);
        var metrics = new Dictionary<string, double>();
        Dictionary<string, double>? user = null;
        var prediction = new EvalPrediction(logits, numLabels, labelIds, floatLabels);
        if (ComputeMetrics != null && hasLabels) user = ComputeMetrics(prediction);
        if (hasLabels) metrics[prefix + "_loss"] = FloatMean(rowLosses);
        if (user != null)
            foreach (var (k, v) in user) metrics[k.StartsWith(prefix + "_", StringComparison.Ordinal) ? k : prefix + "_" + k] = v;
        double runtime = clock.Elapsed.TotalSeconds;
        metrics[prefix + "_runtime"] = PyRound(runtime, 4);
        metrics[prefix + "_samples_per_second"] = PyRound(n / runtime, 3);
        metrics[prefix + "_steps_per_second"] = PyRound(steps / runtime, 3);
        return new PredictionOutput(logits, numLabels, labelIds, metrics);
    }

    private static string LabelColumn(Dataset data)
    {
        foreach (string name in (string[])["labels", "label", "label_ids"])
            if (data.ColumnNames.Contains(name)) return name;
        throw FinetuneException.Missing("The dataset has no label column.");
    }

    /// <summary>Multi-label targets row after row.</summary>
    private static float[]? Flatten(float[]?[]? rows)
    {
        if (rows == null) return null;
        int total = 0;
        foreach (var r in rows) total += r?.Length ?? 0;
        var flat = new float[total];
        int at = 0;
        foreach (var r in rows)
        {
            r?.CopyTo(flat, at);
            at += r?.Length ?? 0;
        }
        return flat;
    }

    // numpy's float32 mean: pairwise summation with float32 accumulators, then one division.
    private static double FloatMean(float[] arr)
    {
        return (float)(0f + PairwiseSum(arr) / arr.Length);
    }

    private static float PairwiseSum(ReadOnlySpan<float> a)
    {
        int n = a.Length;
        if (n < 8)
        {
            float res = 0f;
            for (int i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= 128)
        {
            Span<float> r = stackalloc float[8];
            a[..8].CopyTo(r);
            int i = 8;
            for (; i < n - (n % 8); i += 8)
                for (int j = 0; j < 8; j++) r[j] += a[i + j];
            float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) res += a[i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a[..n2]) + PairwiseSum(a[n2..]);
    }
}
