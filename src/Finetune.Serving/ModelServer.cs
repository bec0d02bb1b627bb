using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Finetune.Inference;
using Finetune.Tokenizers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Finetune.Serving;

/// <summary>
/// `finetune serve`: a model behind text-embeddings-inference's HTTP API on Kestrel — POST /predict, GET /health,
/// /info, /metrics, the OpenAPI document and a web page at /. Requests are tokenized on their own threads and
/// answered from one <see cref="DynamicBatcher"/>; <see cref="StopAsync"/> lets in-flight requests finish.
/// </summary>
public sealed partial class ModelServer : IAsyncDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ServeOptions options;
    private readonly ServedClassifier? classifier;
    private readonly ServedEmbedder? embedder;
    private readonly DynamicBatcher batcher;
    private readonly WebApplication app;
    private readonly byte[] indexHtml = Resource("index.html");
    private readonly byte[] openApi = Resource("openapi.json");
    private int admitted;

    private ModelServer(ServeOptions options, ServedClassifier? classifier, ServedEmbedder? embedder)
    {
        this.options = options;
        this.classifier = classifier;
        this.embedder = embedder;
        batcher = new DynamicBatcher(classifier != null ? classifier.Logits : embedder!.Pooled, options.MaxBatchTokens, Metrics);
        app = Build();
    }

    /// <summary>Binds and starts serving a classifier (/predict); <see cref="Url"/> is where.</summary>
    public static Task<ModelServer> StartAsync(ServeOptions options, ServedClassifier classifier, CancellationToken cancellationToken = default) =>
        StartAsync(new ModelServer(Validated(options), classifier, null), cancellationToken);

    /// <summary>Binds and starts serving a sentence embedder (/embed).</summary>
    public static Task<ModelServer> StartAsync(ServeOptions options, ServedEmbedder embedder, CancellationToken cancellationToken = default) =>
        StartAsync(new ModelServer(Validated(options), null, embedder), cancellationToken);

    /// <summary>
    /// Loads the model <paramref name="options"/> names — a sequence classifier when its config says so
    /// (architectures *ForSequenceClassification), else a bare encoder for /embed — and starts serving it.
    /// </summary>
    public static Task<ModelServer> LoadAndStartAsync(ServeOptions options, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var config = Models.AutoConfig.FromPretrained(options.Model, options.Revision);
        bool isClassifier = config.Architectures?.Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) == true;
        return isClassifier
            ? StartAsync(options, ServedClassifier.Load(options.Model, options.Revision), cancellationToken)
            : StartAsync(options, ServedEmbedder.Load(options.Model, options.Revision), cancellationToken);
    }

    private static ServeOptions Validated(ServeOptions options)
    {
        options.Validate();
        return options;
    }

    private static async Task<ModelServer> StartAsync(ModelServer server, CancellationToken cancellationToken)
    {
        var options = server.options;
        try
        {
            await server.app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            server.batcher.Dispose();
            throw new IOException($"Cannot listen on {options.Host}:{options.Port}: {e.Message}", e);
        }
        var addresses = server.app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        server.Url = addresses.First();
        return server;
    }

    /// <summary>The bound address, e.g. http://127.0.0.1:8080.</summary>
    public string Url { get; private set; } = "";

    public ServerMetrics Metrics { get; } = new();

    /// <summary>Stops taking connections, waits for in-flight requests (up to the drain timeout), ends the inference loop.</summary>
    public async Task StopAsync()
    {
        await app.StopAsync().ConfigureAwait(false);
        batcher.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }

    private WebApplication Build()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        // The caller owns shutdown (the CLI listens for SIGINT/SIGTERM); a library host installs no signal handlers.
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase)) k.Listen(IPAddress.Loopback, options.Port);
            else if (IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else
            {
                var resolved = Dns.GetHostAddresses(options.Host);
                if (resolved.Length == 0) throw FinetuneException.Invalid($"--host '{options.Host}' resolves to no address.");
                k.Listen(resolved[0], options.Port);
            }
        });
        var web = builder.Build();
        web.Run(HandleAsync);
        return web;
    }

    /// <summary>Every request: the API key, the route, and any refusal as TEI's error JSON — never a crash.</summary>
    private async Task HandleAsync(HttpContext ctx)
    {
        long start = Stopwatch.GetTimestamp();
        string path = ctx.Request.Path.Value ?? "/";
        string route = RouteName(path);
        try
        {
            if (options.ApiKey != null && route != "/health" && !Authorized(ctx.Request)) throw ApiError.Unauthorized();
            string method = ctx.Request.Method;
            switch (route)
            {
                case "/predict" when HttpMethods.IsPost(method):
                    await AdmitAsync(ctx, PredictAsync).ConfigureAwait(false);
                    break;
                case "/embed" when HttpMethods.IsPost(method):
                    await AdmitAsync(ctx, EmbedAsync).ConfigureAwait(false);
                    break;
                case "/health" when HttpMethods.IsGet(method) || HttpMethods.IsHead(method):
                    ctx.Response.StatusCode = 200;
                    break;
                case "/info" when HttpMethods.IsGet(method):
                    await WriteJsonAsync(ctx, 200, WriteInfo).ConfigureAwait(false);
                    break;
                case "/metrics" when HttpMethods.IsGet(method):
                    ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    await ctx.Response.WriteAsync(Metrics.Render(), ctx.RequestAborted).ConfigureAwait(false);
                    break;
                case "/openapi.json" when HttpMethods.IsGet(method):
                    await WriteBytesAsync(ctx, "application/json", openApi).ConfigureAwait(false);
                    break;
                case "/" when HttpMethods.IsGet(method):
                    await WriteBytesAsync(ctx, "text/html; charset=utf-8", indexHtml).ConfigureAwait(false);
                    break;
                case "other":
                    throw new ApiError(404, "not_found", $"No route {path}.");
                default:
                    ctx.Response.Headers.Allow = route is "/predict" or "/embed" ? "POST" : "GET";
                    throw new ApiError(405, "method_not_allowed", $"{path} does not take {method}.");
            }
        }
        catch (ApiError e)
        {
            await WriteErrorAsync(ctx, e).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's refusals: the body passed the size limit while being read, or the client sent bad framing.
            await WriteErrorAsync(ctx, e.StatusCode == 413
                ? ApiError.Validation($"The request body is larger than {options.MaxBodyBytes} bytes.")
                : new ApiError(e.StatusCode, "validation", e.Message)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (Exception e)
        {
            // A failure of the model itself (TEI's "backend"): the request fails, the server stays up.
            await WriteErrorAsync(ctx, new ApiError(500, "backend", e.Message)).ConfigureAwait(false);
        }
        finally
        {
            Metrics.ObserveRequest(route, ctx.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>Known routes keep their name; anything else is counted as "other" so a scan cannot grow the metrics.</summary>
    private static string RouteName(string path) => path switch
    {
        "/" or "/index.html" => "/",
        "/predict" or "/embed" or "/health" or "/info" or "/metrics" or "/openapi.json" => path,
        "/api-doc/openapi.json" => "/openapi.json",
        _ => "other",
    };

    private bool Authorized(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        const string Bearer = "Bearer ";
        if (header == null || !header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)) return false;
        var given = System.Text.Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim());
        var expected = System.Text.Encoding.UTF8.GetBytes(options.ApiKey!);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>Runs <paramref name="handle"/> if a request slot is free, else answers 429 with Retry-After.</summary>
    private async Task AdmitAsync(HttpContext ctx, Func<HttpContext, Task> handle)
    {
        if (Interlocked.Increment(ref admitted) > options.MaxConcurrentRequests)
        {
            Interlocked.Decrement(ref admitted);
            ctx.Response.Headers.RetryAfter = "1";
            throw ApiError.Overloaded("Model is overloaded");
        }
        try
        {
            await handle(ctx).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref admitted);
        }
    }

    private async Task EmbedAsync(HttpContext ctx)
    {
        if (embedder == null) throw new ApiError(400, "validation", "This model is a classifier: use /predict (/embed serves bare encoders).");
        using var body = await ReadJsonAsync(ctx).ConfigureAwait(false);
        var request = EmbedRequest.Parse(body.RootElement, options.MaxClientBatchSize, embedder.Embedder.Normalize);
        var rows = Tokenize([.. request.Inputs.Select(t => (t, (string?)null))], request.Truncate);
        float[][] vectors = await batcher.Submit(rows).WaitAsync(ctx.RequestAborted).ConfigureAwait(false);
        await WriteJsonAsync(ctx, 200, w =>
        {
            w.WriteStartArray();
            foreach (var pooled in vectors)
            {
                // The batcher's vectors are shared with nobody else, so normalising in place is safe.
                if (request.Normalize) ServedEmbedder.L2Normalize(pooled);
                w.WriteStartArray();
                foreach (float x in pooled) w.WriteNumberValue(x);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }).ConfigureAwait(false);
    }

    private async Task PredictAsync(HttpContext ctx)
    {
        if (classifier == null) throw new ApiError(400, "validation", "This model is a bare encoder: use /embed (/predict serves sequence classifiers).");
        using var body = await ReadJsonAsync(ctx).ConfigureAwait(false);
        var request = PredictRequest.Parse(body.RootElement, options.MaxClientBatchSize);
        var rows = Tokenize(request.Inputs, request.Truncate);
        float[][] logits = await batcher.Submit(rows).WaitAsync(ctx.RequestAborted).ConfigureAwait(false);
        await WriteJsonAsync(ctx, 200, w =>
        {
            if (request.IsBatch) w.WriteStartArray();
            foreach (var row in logits)
            {
                w.WriteStartArray();
                foreach (var (label, score) in classifier.Rank(row, request.RawScores))
                {
                    w.WriteStartObject();
                    w.WriteNumber("score", score);
                    w.WriteString("label", label);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            if (request.IsBatch) w.WriteEndArray();
        }).ConfigureAwait(false);
    }

    /// <summary>The body as JSON, refused early when its declared length is over the limit (Kestrel stops an undeclared one at the limit).</summary>
    private async Task<JsonDocument> ReadJsonAsync(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > options.MaxBodyBytes)
            throw ApiError.Validation($"The request body is larger than {options.MaxBodyBytes} bytes.");
        try
        {
            return await JsonDocument.ParseAsync(ctx.Request.Body, new JsonDocumentOptions { MaxDepth = 8 }, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw ApiError.Malformed($"The body is not valid JSON: {e.Message}");
        }
    }

    /// <summary>
    /// Encodes the texts with the model's tokenizer, as `finetune predict` does. An input longer than the model takes
    /// is refused unless the request asked for truncation.
    /// </summary>
    private List<PredictionInput> Tokenize(IReadOnlyList<(string Text, string? Pair)> inputs, bool truncate)
    {
        var truncating = classifier?.Pipeline.EncodeOptions ?? embedder!.EncodeOptions;
        var tokenizer = classifier?.Tokenizer ?? embedder!.Tokenizer;
        int maxLength = classifier?.MaxInputLength ?? embedder!.MaxInputLength;
        var whole = truncating with { Truncation = TruncationStrategy.None };
        var rows = new PredictionInput[inputs.Count];
        // Singles and pairs go in separate calls: the tokenizer takes pairs for all rows or none.
        foreach (bool pairs in (ReadOnlySpan<bool>)[false, true])
        {
            var index = new List<int>();
            for (int i = 0; i < inputs.Count; i++)
                if ((inputs[i].Pair != null) == pairs) index.Add(i);
            if (index.Count == 0) continue;
            var texts = index.ConvertAll(i => inputs[i].Text);
            var seconds = pairs ? index.ConvertAll(i => inputs[i].Pair!) : null;
            var encoded = tokenizer.EncodeBatch(texts, seconds, whole);
            bool tooLong = false;
            for (int k = 0; k < encoded.Count; k++)
            {
                if (encoded[k].Length <= maxLength) continue;
                if (!truncate)
                    throw ApiError.Validation($"Input validation error: `inputs` must have less than {maxLength} tokens. Given: {encoded[k].Length}");
                tooLong = true;
            }
            if (tooLong) encoded = tokenizer.EncodeBatch(texts, seconds, truncating);
            for (int k = 0; k < encoded.Count; k++)
                rows[index[k]] = new PredictionInput(encoded[k].InputIds, encoded[k].AttentionMask, encoded[k].TokenTypeIds);
        }
        return [.. rows];
    }

    /// <summary>TEI's /info: the model, its labels, and the router's limits.</summary>
    private void WriteInfo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("model_id", classifier?.ModelId ?? embedder!.ModelId);
        w.WriteNull("model_sha");
        w.WriteString("model_dtype", "float32");
        w.WriteStartObject("model_type");
        if (embedder != null)
        {
            w.WriteStartObject("embedding");
            w.WriteString("pooling", string.Join("+", embedder.Embedder.Pooling.Select(p => p.ToString().ToLowerInvariant())));
            w.WriteBoolean("normalize", embedder.Embedder.Normalize);
            w.WriteNumber("dimension", embedder.Embedder.Dimension);
            w.WriteEndObject();
        }
        else
        {
            WriteClassifierType(w, classifier!);
        }
        w.WriteEndObject();
        w.WriteNumber("max_concurrent_requests", options.MaxConcurrentRequests);
        w.WriteNumber("max_input_length", classifier?.MaxInputLength ?? embedder!.MaxInputLength);
        w.WriteNumber("max_batch_tokens", options.MaxBatchTokens);
        w.WriteNull("max_batch_requests");
        w.WriteNumber("max_client_batch_size", options.MaxClientBatchSize);
        w.WriteBoolean("auto_truncate", false);
        w.WriteNumber("tokenization_workers", Environment.ProcessorCount);
        w.WriteString("version", typeof(ModelServer).Assembly.GetName().Version?.ToString() ?? "0");
        w.WriteEndObject();
    }

    private static void WriteClassifierType(Utf8JsonWriter w, ServedClassifier classifier)
    {
        w.WriteStartObject("classifier");
        w.WriteStartObject("id2label");
        for (int i = 0; i < classifier.Labels.Count; i++) w.WriteString(i.ToString(System.Globalization.CultureInfo.InvariantCulture), classifier.Labels[i]);
        w.WriteEndObject();
        w.WriteStartObject("label2id");
        for (int i = 0; i < classifier.Labels.Count; i++) w.WriteNumber(classifier.Labels[i], i);
        w.WriteEndObject();
        w.WriteString("problem_type", classifier.ProblemType);
        w.WriteEndObject();
    }

    private static async Task WriteJsonAsync(HttpContext ctx, int status, Action<Utf8JsonWriter> write)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        using (var w = new Utf8JsonWriter(ctx.Response.BodyWriter, WriterOptions)) write(w);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteErrorAsync(HttpContext ctx, ApiError e)
    {
        if (ctx.Response.HasStarted) return;
        await WriteJsonAsync(ctx, e.Status, w =>
        {
            w.WriteStartObject();
            w.WriteString("error", e.Message);
            w.WriteString("error_type", e.ErrorType);
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }

    private static async Task WriteBytesAsync(HttpContext ctx, string contentType, byte[] bytes)
    {
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = bytes.Length;
        await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>A file embedded in this assembly (the page and the OpenAPI document are never read from disk).</summary>
    private static byte[] Resource(string name)
    {
        using var s = typeof(ModelServer).Assembly.GetManifestResourceStream("Finetune.Serving." + name)
            ?? throw new InvalidOperationException($"The resource {name} is missing from the assembly.");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>A host lifetime that leaves process signals alone.</summary>
    private sealed class CallerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
