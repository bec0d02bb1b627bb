using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Finetune.Tests.Serving;

/// <summary>
/// Every kind of bad request gets a 4xx with TEI's error JSON, never a 500, and the server keeps answering:
/// malformed JSON, wrong types, empty input, too many inputs, a body over the limit (refused from its declared
/// length before any of it is read), an over-long text without truncation, a full server, a missing API key.
/// </summary>
public sealed class ServeBadRequestTests(ServingModel model) : IClassFixture<ServingModel>
{
    [SkippableTheory]
    [InlineData("{\"inputs\": ", 422)]
    [InlineData("not json at all", 422)]
    [InlineData("[\"a text\"]", 422)]
    [InlineData("{\"text\": \"no inputs field\"}", 422)]
    [InlineData("{\"inputs\": 5}", 422)]
    [InlineData("{\"inputs\": [1, 2]}", 422)]
    [InlineData("{\"inputs\": [\"a\", \"b\", \"c\"]}", 422)]
    [InlineData("{\"inputs\": [[\"a\"], \"b\"]}", 422)]
    [InlineData("{\"inputs\": [[\"a\", \"b\", \"c\"]]}", 422)]
    [InlineData("{\"inputs\": [[]]}", 422)]
    [InlineData("{\"inputs\": \"fine\", \"truncate\": \"yes\"}", 422)]
    [InlineData("{\"inputs\": \"fine\", \"raw_scores\": 1}", 422)]
    [InlineData("{\"inputs\": []}", 400)]
    [InlineData("{\"inputs\": \"\"}", 400)]
    [InlineData("{\"inputs\": [[\"a\", \"\"]]}", 400)]
    [InlineData("{\"inputs\": [[\"a\"], [\"b\"], [\"c\"], [\"d\"], [\"e\"]]}", 413)]
    public async Task MalformedWrongTypedEmptyOrTooManyInputsAreRefusedWithTeisErrorJson(string body, int status)
    {
        await using var server = await model.StartAsync(o => o with { MaxClientBatchSize = 4 });
        using var http = new HttpClient();
        var (code, json) = await ServingModel.PostAsync(http, server.Url + "/predict", body);
        Assert.Equal(status, (int)code);
        AssertErrorJson(json, status switch { 400 => "empty", _ => "validation" });
        await AssertStillServing(http, server.Url);
    }

    [SkippableFact]
    public async Task ATextLongerThanTheModelIsRefusedUnlessTruncated()
    {
        await using var server = await model.StartAsync();
        using var http = new HttpClient();
        string longText = string.Join(' ', Enumerable.Repeat("wonderful", 600));
        var (code, json) = await ServingModel.PostAsync(http, server.Url + "/predict", JsonSerializer.Serialize(new { inputs = longText }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, code);
        AssertErrorJson(json, "validation");
        Assert.Contains("512", json.GetProperty("error").GetString());
        (code, json) = await ServingModel.PostAsync(http, server.Url + "/predict", JsonSerializer.Serialize(new { inputs = longText, truncate = true }));
        Assert.Equal(HttpStatusCode.OK, code);
        // Truncated to 512 tokens, as the pipeline truncates it.
        var want = model.Classifier.Pipeline.Predict([longText], topK: null)[0];
        Assert.Equal(want[0].Label, ServingModel.Read(json)[0].Label);
        Assert.Equal(want[0].Score, ServingModel.Read(json)[0].Score, 1e-5);
    }

    [SkippableFact]
    public async Task ABodyOverTheLimitIsRefusedBeforeItIsRead()
    {
        await using var server = await model.StartAsync(o => o with { MaxBodyBytes = 4096 });
        using var http = new HttpClient();
        // Declared length over the limit: refused from the headers alone, though no byte of the body is ever sent.
        var uri = new Uri(server.Url);
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(uri.Host, uri.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"));
            string head = await ReadResponseHead(stream);
            Assert.StartsWith("HTTP/1.1 413", head);
            Assert.Contains("\"error_type\":\"validation\"", head);
        }
        // No declared length (chunked): Kestrel stops reading at the limit.
        string big = JsonSerializer.Serialize(new { inputs = string.Join(' ', Enumerable.Repeat("word", 5000)) });
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, server.Url + "/predict") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        AssertErrorJson(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement, "validation");
        await AssertStillServing(http, server.Url);
    }

    [SkippableFact]
    public async Task AFullServerAnswers429WithRetryAfter()
    {
        await using var server = await model.StartAsync(o => o with { MaxConcurrentRequests = 1 });
        using var http = new HttpClient();
        var uri = new Uri(server.Url);
        // A request whose body has not all arrived holds the only slot.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        byte[] body = Encoding.UTF8.GetBytes("{\"inputs\": \"the cast is uniformly excellent.\"}");
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n"));
        await stream.WriteAsync(body.AsMemory(0, 10));
        HttpResponseMessage? refused = null;
        for (int attempt = 0; attempt < 200 && refused == null; attempt++)
        {
            var r = await http.PostAsync(server.Url + "/predict", new StringContent("{\"inputs\": \"x\"}", Encoding.UTF8, "application/json"));
            if (r.StatusCode == HttpStatusCode.TooManyRequests) refused = r;
            else
            {
                r.Dispose();
                await Task.Delay(20);
            }
        }
        Assert.NotNull(refused);
        Assert.Equal("1", refused!.Headers.RetryAfter?.ToString());
        AssertErrorJson(JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement, "overloaded");
        refused.Dispose();
        // The held request still completes once its body arrives.
        await stream.WriteAsync(body.AsMemory(10));
        Assert.StartsWith("HTTP/1.1 200", await ReadResponseHead(stream));
    }

    [SkippableFact]
    public async Task WithAnApiKeyEveryRouteButHealthNeedsIt()
    {
        await using var server = await model.StartAsync(o => o with { ApiKey = "s3cret" });
        using var http = new HttpClient();
        foreach (string path in new[] { "/info", "/metrics", "/", "/openapi.json" })
        {
            using var r = await http.GetAsync(server.Url + path);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }
        var (code, json) = await ServingModel.PostAsync(http, server.Url + "/predict", "{\"inputs\": \"hello\"}");
        Assert.Equal(HttpStatusCode.Unauthorized, code);
        AssertErrorJson(json, "unauthorized");
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, server.Url + "/info"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cre");
            using var r = await http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }
        using (var health = await http.GetAsync(server.Url + "/health")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        (code, _) = await ServingModel.PostAsync(http, server.Url + "/predict", "{\"inputs\": \"hello\"}");
        Assert.Equal(HttpStatusCode.OK, code);
        using (var info = await http.GetAsync(server.Url + "/info")) Assert.Equal(HttpStatusCode.OK, info.StatusCode);
    }

    [SkippableFact]
    public async Task NoPathReachesTheFileSystem()
    {
        await using var server = await model.StartAsync();
        using var http = new HttpClient();
        foreach (string path in new[] { "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/wwwroot/index.html", "/config.json", "/model.safetensors" })
        {
            using var r = await http.GetAsync(server.Url + path);
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            string text = await r.Content.ReadAsStringAsync();
            Assert.DoesNotContain("root:", text);
            AssertErrorJson(JsonDocument.Parse(text).RootElement, "not_found");
        }
        using (var wrongMethod = await http.GetAsync(server.Url + "/predict")) Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        using var page = await http.GetAsync(server.Url + "/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<form", await page.Content.ReadAsStringAsync());
        // Scans are counted under one label, not one per path.
        Assert.Contains("route=\"other\",status=\"404\"", await http.GetStringAsync(server.Url + "/metrics"));
    }

    private static void AssertErrorJson(JsonElement json, string errorType)
    {
        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        Assert.False(string.IsNullOrEmpty(json.GetProperty("error").GetString()));
        Assert.Equal(errorType, json.GetProperty("error_type").GetString());
    }

    private static async Task AssertStillServing(HttpClient http, string url)
    {
        var (code, _) = await ServingModel.PostAsync(http, url + "/predict", "{\"inputs\": \"still here?\"}");
        Assert.Equal(HttpStatusCode.OK, code);
    }

    /// <summary>The status line, headers and whatever body came with them (bounded: 64 KB or 30 s).</summary>
    private static async Task<string> ReadResponseHead(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[65536];
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(total), cts.Token);
            if (n == 0) break;
            total += n;
            string text = Encoding.UTF8.GetString(buffer, 0, total);
            int headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd >= 0 && text.Contains('}', StringComparison.Ordinal)) break;
            if (headEnd >= 0 && text.Contains("Content-Length: 0", StringComparison.OrdinalIgnoreCase)) break;
        }
        return Encoding.UTF8.GetString(buffer, 0, total);
    }
}
