using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Finetune.Serving;

/// <summary>
/// The counters `/metrics` shows in Prometheus' text format: requests by route and status, request latency and
/// batch-size histograms, rows waiting in the queue, tokens and inputs processed. Lock-free updates.
/// </summary>
public sealed class ServerMetrics
{
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    private readonly ConcurrentDictionary<(string Route, int Status), Counter> requests = new();
    private readonly ConcurrentDictionary<string, Histogram> latency = new(StringComparer.Ordinal);
    private readonly Histogram batchSize = new(BatchBuckets);
    private long queueDepth, tokens, inputs, batches;

    /// <summary>Requests answered with <paramref name="status"/> on <paramref name="route"/>.</summary>
    public long RequestCount(string route, int status) => requests.TryGetValue((route, status), out var c) ? Interlocked.Read(ref c.Value) : 0;

    public long TokensProcessed => Interlocked.Read(ref tokens);
    public long QueueDepth => Interlocked.Read(ref queueDepth);

    internal void ObserveRequest(string route, int status, double seconds)
    {
        Interlocked.Increment(ref requests.GetOrAdd((route, status), static _ => new Counter()).Value);
        latency.GetOrAdd(route, static _ => new Histogram(LatencyBuckets)).Observe(seconds);
    }

    internal void ObserveBatch(int rows, int batchTokens)
    {
        batchSize.Observe(rows);
        Interlocked.Add(ref tokens, batchTokens);
        Interlocked.Add(ref inputs, rows);
        Interlocked.Increment(ref batches);
    }

    internal void QueueDepthAdd(int delta) => Interlocked.Add(ref queueDepth, delta);

    /// <summary>The exposition text (version 0.0.4).</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# HELP finetune_requests_total HTTP requests answered, by route and status code.\n# TYPE finetune_requests_total counter\n");
        foreach (var kv in requests.OrderBy(k => k.Key.Route, StringComparer.Ordinal).ThenBy(k => k.Key.Status))
            sb.Append(CultureInfo.InvariantCulture, $"finetune_requests_total{{route=\"{kv.Key.Route}\",status=\"{kv.Key.Status}\"}} {Interlocked.Read(ref kv.Value.Value)}\n");
        sb.Append("# HELP finetune_request_duration_seconds Time from a request's arrival to its answer.\n# TYPE finetune_request_duration_seconds histogram\n");
        foreach (var kv in latency.OrderBy(k => k.Key, StringComparer.Ordinal))
            kv.Value.Render(sb, "finetune_request_duration_seconds", $"route=\"{kv.Key}\"");
        sb.Append("# HELP finetune_batch_size Inputs per forward pass.\n# TYPE finetune_batch_size histogram\n");
        batchSize.Render(sb, "finetune_batch_size", null);
        sb.Append(CultureInfo.InvariantCulture, $"# HELP finetune_queue_depth Inputs waiting for a forward pass.\n# TYPE finetune_queue_depth gauge\nfinetune_queue_depth {QueueDepth}\n");
        sb.Append(CultureInfo.InvariantCulture, $"# HELP finetune_tokens_total Tokens run through the model.\n# TYPE finetune_tokens_total counter\nfinetune_tokens_total {TokensProcessed}\n");
        sb.Append(CultureInfo.InvariantCulture, $"# HELP finetune_inputs_total Inputs (texts or pairs) run through the model.\n# TYPE finetune_inputs_total counter\nfinetune_inputs_total {Interlocked.Read(ref inputs)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"# HELP finetune_batches_total Forward passes.\n# TYPE finetune_batches_total counter\nfinetune_batches_total {Interlocked.Read(ref batches)}\n");
        return sb.ToString();
    }

    private sealed class Counter
    {
        public long Value;
    }

    /// <summary>Cumulative buckets as Prometheus wants them, kept as per-bucket counts and summed when rendered.</summary>
    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] counts = new long[bounds.Length + 1];
        private long sumMicros;

        public void Observe(double value)
        {
            int i = 0;
            while (i < bounds.Length && value > bounds[i]) i++;
            Interlocked.Increment(ref counts[i]);
            Interlocked.Add(ref sumMicros, (long)(value * 1e6));
        }

        public void Render(StringBuilder sb, string name, string? labels)
        {
            string prefix = labels == null ? "" : labels + ",";
            long cumulative = 0;
            for (int i = 0; i < bounds.Length; i++)
            {
                cumulative += Interlocked.Read(ref counts[i]);
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"{bounds[i].ToString("R", CultureInfo.InvariantCulture)}\"}} {cumulative}\n");
            }
            cumulative += Interlocked.Read(ref counts[^1]);
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"+Inf\"}} {cumulative}\n");
            string braces = labels == null ? "" : "{" + labels + "}";
            sb.Append(CultureInfo.InvariantCulture, $"{name}_sum{braces} {(Interlocked.Read(ref sumMicros) / 1e6).ToString("R", CultureInfo.InvariantCulture)}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_count{braces} {cumulative}\n");
        }
    }
}
