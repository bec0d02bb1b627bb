using System.Threading.Channels;
using Finetune.Inference;

namespace Finetune.Serving;

/// <summary>
/// Dynamic batching: requests put their tokenized rows on one queue; a single inference thread takes as many
/// rows as fit the token budget, sorts them by length, runs them in forward passes padded per pass (each at most
/// the budget in padded tokens), and completes each request once all its rows are done. The forward pass itself
/// uses every core; requests only wait on their task.
/// </summary>
internal sealed class DynamicBatcher : IDisposable
{
    private readonly Func<IReadOnlyList<PredictionInput>, float[][]> forward;
    private readonly int maxBatchTokens;
    private readonly ServerMetrics metrics;
    private readonly Channel<Row> queue = Channel.CreateUnbounded<Row>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread loop;

    /// <param name="forward">One forward pass: rows of token ids in, one output vector per row out.</param>
    public DynamicBatcher(Func<IReadOnlyList<PredictionInput>, float[][]> forward, int maxBatchTokens, ServerMetrics metrics)
    {
        this.forward = forward;
        this.maxBatchTokens = maxBatchTokens;
        this.metrics = metrics;
        loop = new Thread(Run) { IsBackground = true, Name = "finetune-inference" };
        loop.Start();
    }

    /// <summary>Queues one request's rows; the task ends with one output per row, in order.</summary>
    public Task<float[][]> Submit(IReadOnlyList<PredictionInput> rows)
    {
        var request = new Request(rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            metrics.QueueDepthAdd(1);
            if (!queue.Writer.TryWrite(new Row(request, i, rows[i])))
            {
                metrics.QueueDepthAdd(-1);
                request.Fail(new InvalidOperationException("The server is shutting down."));
                break;
            }
        }
        return request.Done.Task;
    }

    /// <summary>No more rows are taken; the loop finishes the queued ones and ends.</summary>
    public void Complete() => queue.Writer.TryComplete();

    public void Dispose()
    {
        Complete();
        loop.Join();
    }

    private void Run()
    {
        var reader = queue.Reader;
        var taken = new List<Row>();
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            taken.Clear();
            int tokens = 0;
            // The first row always goes in (a row longer than the budget still runs, alone).
            while (reader.TryPeek(out var next) && (taken.Count == 0 || tokens + next.Tokens <= maxBatchTokens))
            {
                reader.TryRead(out next);
                taken.Add(next!);
                tokens += next!.Tokens;
            }
            metrics.QueueDepthAdd(-taken.Count);
            // Shortest first, so each pass pads little; a pass ends where its padded size would pass the budget.
            taken.Sort(static (a, b) => a.Tokens.CompareTo(b.Tokens));
            int start = 0;
            while (start < taken.Count)
            {
                int end = start + 1;
                while (end < taken.Count && (end - start + 1) * taken[end].Tokens <= maxBatchTokens) end++;
                int chunkTokens = 0;
                for (int i = start; i < end; i++) chunkTokens += taken[i].Tokens;
                RunChunk(taken, start, end, chunkTokens);
                start = end;
            }
        }
    }

    private void RunChunk(List<Row> taken, int start, int end, int tokens)
    {
        var inputs = new List<PredictionInput>(end - start);
        for (int i = start; i < end; i++) inputs.Add(taken[i].Input);
        float[][] outputs;
        try
        {
            outputs = forward(inputs);
        }
        catch (Exception e)
        {
            for (int i = start; i < end; i++) taken[i].Request.Fail(e);
            return;
        }
        metrics.ObserveBatch(end - start, tokens);
        for (int i = start; i < end; i++) taken[i].Request.Set(taken[i].Index, outputs[i - start]);
    }

    private sealed record Row(Request Request, int Index, PredictionInput Input)
    {
        public int Tokens => Input.InputIds.Length;
    }

    /// <summary>One caller's rows: completed when the last one is set (the loop is the only writer of results).</summary>
    private sealed class Request(int count)
    {
        private readonly float[][] results = new float[count][];
        private int remaining = count;

        public TaskCompletionSource<float[][]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Set(int index, float[] output)
        {
            results[index] = output;
            if (Interlocked.Decrement(ref remaining) == 0) Done.TrySetResult(results);
        }

        public void Fail(Exception e) => Done.TrySetException(e);
    }
}
