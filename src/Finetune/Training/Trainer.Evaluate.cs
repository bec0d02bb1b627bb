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
    public Dictionary<string, double> Evaluate(IReadOnlyList<TokenizedExample>? evalDataset = null, string metricKeyPrefix = "eval")
    {
        var data = evalDataset ?? EvalDataset ?? throw FinetuneException.Invalid("Evaluate() needs an evaluation dataset.");
        var output = PredictionLoop(data, metricKeyPrefix);
        var metrics = new Dictionary<string, double>(output.Metrics);
        Log(metrics); // adds "epoch", which transformers' evaluate() returns too
        Handler.OnEvaluate(Args, State, Control, metrics);
        return metrics;
    }

    /// <summary>Logits, label ids and test_ metrics for a dataset (nothing is logged).</summary>
    public PredictionOutput Predict(IReadOnlyList<TokenizedExample> testDataset, string metricKeyPrefix = "test")
    {
        var output = PredictionLoop(testDataset, metricKeyPrefix);
        Handler.OnPredict(Args, State, Control, output.Metrics);
        return output;
    }

    private PredictionOutput PredictionLoop(IReadOnlyList<TokenizedExample> data, string prefix)
    {
        if (data.Count == 0) throw FinetuneException.Invalid("The evaluation dataset is empty.");
        var clock = Stopwatch.StartNew();
        model.Module.Eval();
        int bs = Args.PerDeviceEvalBatchSize;
        int numLabels = model.NumLabels;
        var logits = new float[data.Count * numLabels];
        var rowLosses = new float[data.Count];
        bool hasLabels = data.All(r => r.HasLabel);
        bool intLabels = hasLabels && data.All(r => r.FloatLabels == null);
        int[]? labelIds = intLabels ? data.Select(r => r.Label).ToArray() : null;
        float[]? floatLabels = hasLabels && !intLabels ? data.SelectMany(r => r.FloatLabels!).ToArray() : null;
        int steps = 0, batchIndex = 0;
        // Labels go into the batches only when every row has one (as the loss needs).
        var columns = TokenizedExampleBatching.Columns(data, withLabels: hasLabels);
        using (Tensor.NoGrad())
        {
            for (int start = 0; start < data.Count; start += bs, batchIndex++)
            {
                ThrowIfInterrupted();
                int end = Math.Min(data.Count, start + bs);
                steps++;
                if (!OwnsEvalBatch(batchIndex)) continue;
                var batch = collator.Collate(columns, Enumerable.Range(start, end - start).ToArray());
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
        metrics[prefix + "_samples_per_second"] = PyRound(data.Count / runtime, 3);
        metrics[prefix + "_steps_per_second"] = PyRound(steps / runtime, 3);
        return new PredictionOutput(logits, numLabels, labelIds, metrics);
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
