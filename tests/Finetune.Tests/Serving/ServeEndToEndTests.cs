using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Finetune.Tests.Cli;

namespace Finetune.Tests.Serving;

/// <summary>
/// `finetune serve` as a separate process on a free loopback port: its answers equal `finetune predict` on the same
/// texts, /health, /info and /metrics say what they should, and SIGTERM drains and exits 0.
/// </summary>
public sealed class ServeEndToEndTests(ServingModel model) : IClassFixture<ServingModel>
{
    [SkippableFact]
    public async Task ServeAnswersAsPredictDoesAndStopsCleanlyOnSigterm()
    {
        string dir = model.Dir;
        using var tmp = new TempDir();
        // predict's answers for the same singles and pairs, read from its JSONL output.
        string[] pairs = ["the acting is wooden.", "a gorgeous movie."];
        var lines = ServingModel.Sentences.Select(s => JsonSerializer.Serialize(new { text = s }))
            .Concat(pairs.Select(p => JsonSerializer.Serialize(new { text = ServingModel.Sentences[0], text_pair = p })));
        File.WriteAllLines(tmp.File("in.jsonl"), lines);
        var (code, _, err) = CliRunner.Run("predict", "--model", dir, "--input", tmp.File("in.jsonl"), "--output", tmp.File("out.jsonl"));
        Assert.True(code == 0, err);
        var expected = File.ReadAllLines(tmp.File("out.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

        int port = ServingModel.FreePort();
        using var server = StartServe(dir, port);
        string url = await WaitForUrl(server);
        Assert.Equal($"http://127.0.0.1:{port}", url);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

        // One text: a flat list, every label, best first.
        var (status, single) = await ServingModel.PostAsync(http, url + "/predict", JsonSerializer.Serialize(new { inputs = ServingModel.Sentences[1] }));
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSameAsPredict(ServingModel.Read(single), expected[1]);

        // A pair: [text, text_pair].
        (status, var pair) = await ServingModel.PostAsync(http, url + "/predict", JsonSerializer.Serialize(new { inputs = new[] { ServingModel.Sentences[0], pairs[0] } }));
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSameAsPredict(ServingModel.Read(pair), expected[ServingModel.Sentences.Length]);

        // A batch mixing singles and a pair: a list of lists in request order.
        var batch = ServingModel.Sentences.Select(s => new[] { s }).Append([ServingModel.Sentences[0], pairs[1]]).ToArray();
        (status, var many) = await ServingModel.PostAsync(http, url + "/predict", JsonSerializer.Serialize(new { inputs = batch }));
        Assert.Equal(HttpStatusCode.OK, status);
        var answers = many.EnumerateArray().ToArray();
        Assert.Equal(batch.Length, answers.Length);
        for (int i = 0; i < ServingModel.Sentences.Length; i++) AssertSameAsPredict(ServingModel.Read(answers[i]), expected[i]);
        AssertSameAsPredict(ServingModel.Read(answers[^1]), expected[^1]);

        // raw_scores: the logits themselves.
        (status, var raw) = await ServingModel.PostAsync(http, url + "/predict", JsonSerializer.Serialize(new { inputs = ServingModel.Sentences[2], raw_scores = true }));
        Assert.Equal(HttpStatusCode.OK, status);
        var logits = expected[2].GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        foreach (var (label, score) in ServingModel.Read(raw))
            Assert.Equal(logits[Array.IndexOf(ServingModel.LabelNames, label)], score, 1e-5f);

        using (var health = await http.GetAsync(url + "/health")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var info = JsonDocument.Parse(await http.GetStringAsync(url + "/info")).RootElement;
        Assert.Equal(dir, info.GetProperty("model_id").GetString());
        var id2label = info.GetProperty("model_type").GetProperty("classifier").GetProperty("id2label");
        Assert.Equal(ServingModel.LabelNames, id2label.EnumerateObject().Select(p => p.Value.GetString()!).ToArray());
        Assert.Equal(512, info.GetProperty("max_input_length").GetInt32());
        Assert.Equal(16384, info.GetProperty("max_batch_tokens").GetInt32());
        Assert.Equal(32, info.GetProperty("max_client_batch_size").GetInt32());

        string metrics = await http.GetStringAsync(url + "/metrics");
        Assert.Contains("finetune_requests_total{route=\"/predict\",status=\"200\"} 4\n", metrics);
        Assert.Contains("finetune_requests_total{route=\"/health\",status=\"200\"} 1\n", metrics);
        Assert.Contains("finetune_request_duration_seconds_count{route=\"/predict\"} 4\n", metrics);
        // 1 + 1 + 9 + 1 inputs went through the model.
        Assert.Contains("finetune_inputs_total 12\n", metrics);
        Assert.Contains("finetune_queue_depth 0\n", metrics);
        Assert.Contains("finetune_batch_size_count", metrics);
        Assert.Matches(@"finetune_tokens_total [1-9]\d*\n", metrics);
        var openApi = JsonDocument.Parse(await http.GetStringAsync(url + "/openapi.json")).RootElement;
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/predict", out _));

        // SIGTERM: the server stops taking requests, finishes, and exits 0.
        using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.True(server.WaitForExit(60_000), "serve did not exit within 60 s of SIGTERM");
        Assert.Equal(0, server.ExitCode);
    }

    private static void AssertSameAsPredict((string Label, float Score)[] served, JsonElement predicted)
    {
        var probs = predicted.GetProperty("probs").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(ServingModel.LabelNames.Length, served.Length);
        Assert.Equal(predicted.GetProperty("label").GetString(), served[0].Label);
        for (int i = 1; i < served.Length; i++) Assert.True(served[i - 1].Score >= served[i].Score, "scores are not sorted");
        foreach (var (label, score) in served)
            Assert.Equal(probs[Array.IndexOf(ServingModel.LabelNames, label)], score, 1e-5f);
    }

    /// <summary>The built tool (copied beside the tests) run by the same dotnet host as the tests.</summary>
    internal static Process StartServe(string modelDir, int port, params string[] extra)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var psi = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Finetune.Cli.dll"));
        foreach (string a in new[] { "serve", "--model", modelDir, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(extra)) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Reads the tool's output up to the line with the URL (bounded: 120 s).</summary>
    internal static async Task<string> WaitForUrl(Process server)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (true)
        {
            string? line = await server.StandardOutput.ReadLineAsync(cts.Token);
            if (line == null) throw new InvalidOperationException("serve exited before printing its URL: " + await server.StandardError.ReadToEndAsync(cts.Token));
            int at = line.IndexOf(" at http://", StringComparison.Ordinal);
            if (line.StartsWith("Serving ", StringComparison.Ordinal) && at >= 0)
                return line[(at + 4)..].Split(' ')[0];
        }
    }
}
