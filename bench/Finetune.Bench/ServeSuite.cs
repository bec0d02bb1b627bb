using System.Diagnostics;
using System.Globalization;
using System.Net;

using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Data;
using Finetune.Models;
using Finetune.Onnx;
using Finetune.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Finetune.Bench;

/// <summary>
/// `serve`: `finetune serve` (a separate process) on loopback, a client sending the first N rotten_tomatoes test
/// sentences one per request at concurrency 1, 8 and 64: requests/s, sentences/s, p50/p99 latency, errors, the
/// server's peak RSS. Models: all-MiniLM-L6-v2's shape and bert-base's shape with a 2-label head (random weights:
/// speed does not depend on them). Peer, in the same run: the same model exported to ONNX and run in-process by
/// ONNX Runtime at batch 32 on all cores (tokenizing included, no HTTP).
/// Options: --shared DIR, --requests N (default 512), --models minilm,bert-base, --concurrency 1,8,64.
/// </summary>
public sealed class ServeSuite : IBenchSuite
{
    public string Name => "serve";

    public string Description => "finetune serve over loopback at concurrency 1/8/64 vs ONNX Runtime in-process at batch 32";

    public int Run(string[] args, BenchResults results)
    {
        string shared = BenchArgs.Get(args, "--shared") ?? BenchArgs.FindShared();
        int requests = int.Parse(BenchArgs.Get(args, "--requests") ?? "512", CultureInfo.InvariantCulture);
        var models = (BenchArgs.Get(args, "--models") ?? "minilm,bert-base").Split(',');
        var levels = (BenchArgs.Get(args, "--concurrency") ?? "1,8,64").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var test = LoadDataset.Load("rotten_tomatoes", null, new LoadOptions { DataRoot = Path.Combine(shared, "datasets") })["test"];
        var sentences = test.GetStrings("text").Take(requests).Select(s => s!).ToList();
        string tokDir = Path.Combine(shared, "models/bert-base-uncased");
        Console.WriteLine($"{sentences.Count} rotten_tomatoes test sentences, {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"model",-10} {"client",-16} {"req/s",8} {"sent/s",8} {"p50 ms",8} {"p99 ms",8} {"errors",6} {"peak RSS MB",11}");
        string root = Path.Combine(Path.GetTempPath(), "finetune-bench-serve-" + Environment.ProcessId);
        try
        {
            foreach (string name in models)
            {
                string dir = BuildModel(root, name, shared, tokDir);
                foreach (int c in levels) RunServer(dir, name, sentences, c, results);
                RunOrt(dir, name, sentences, tokDir, results);
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        return 0;
    }

    /// <summary>A classifier folder of the model's shape (random weights, bert-base-uncased tokenizer) and its ONNX export.</summary>
    private static string BuildModel(string root, string name, string shared, string tokDir)
    {
        string dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        JsonObject config = name switch
        {
            "minilm" => JsonNode.Parse(File.ReadAllText(Path.Combine(shared, "models/all-MiniLM-L6-v2/config.json")))!.AsObject(),
            "bert-base" => new JsonObject
            {
                ["model_type"] = "bert",
                ["vocab_size"] = 30522,
                ["hidden_size"] = 768,
                ["num_hidden_layers"] = 12,
                ["num_attention_heads"] = 12,
                ["intermediate_size"] = 3072,
                ["max_position_embeddings"] = 512,
                ["type_vocab_size"] = 2,
                ["hidden_act"] = "gelu",
                ["layer_norm_eps"] = 1e-12,
                ["pad_token_id"] = 0,
            },
            _ => throw new ArgumentException($"unknown model '{name}' (minilm, bert-base)"),
        };
        config["architectures"] = new JsonArray("BertForSequenceClassification");
        config["id2label"] = new JsonObject { ["0"] = "negative", ["1"] = "positive" };
        config["label2id"] = new JsonObject { ["negative"] = 0, ["positive"] = 1 };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var model = AutoModelForSequenceClassification.FromConfig(AutoConfig.FromPretrained(dir), new Finetune.Tensors.Generator(1));
        model.SavePretrained(dir);
        OnnxExport.Export(model, Path.Combine(dir, "model.onnx"));
        foreach (string f in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt" })
            File.Copy(Path.Combine(tokDir, f), Path.Combine(dir, f), overwrite: true);
        return dir;
    }

    private static void RunServer(string dir, string name, List<string> sentences, int concurrency, BenchResults results)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet")
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "Finetune.Cli.dll"), "serve", "--model", dir, "--port", "0", "--max-concurrent-requests", "1024" })
            psi.ArgumentList.Add(a);
        using var server = Process.Start(psi)!;
        try
        {
            string url = WaitForUrl(server);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { Timeout = TimeSpan.FromMinutes(10) };
            var bodies = sentences.Select(s => JsonSerializer.Serialize(new { inputs = s })).ToArray();
            Send(http, url, bodies.Take(Math.Min(32, bodies.Length)).ToArray(), Math.Min(8, concurrency), out _); // warm-up: JIT and pools
            var sw = Stopwatch.StartNew();
            var latencies = Send(http, url, bodies, concurrency, out int errors);
            double seconds = sw.Elapsed.TotalSeconds;
            double rss = PeakRssMb(server.Id);
            Array.Sort(latencies);
            double p50 = latencies[latencies.Length / 2], p99 = latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))];
            double rps = bodies.Length / seconds;
            Console.WriteLine($"{name,-10} {"serve c=" + concurrency,-16} {rps,8:F1} {rps,8:F1} {p50,8:F1} {p99,8:F1} {errors,6} {rss,11:F0}");
            results.Add(new JsonObject
            {
                ["suite"] = "serve",
                ["config"] = name,
                ["concurrency"] = concurrency,
                ["requests_per_s"] = Math.Round(rps, 1),
                ["sentences_per_s"] = Math.Round(rps, 1),
                ["p50_ms"] = Math.Round(p50, 1),
                ["p99_ms"] = Math.Round(p99, 1),
                ["errors"] = errors,
                ["peak_rss_mb"] = Math.Round(rss),
            });
        }
        finally
        {
            if (!server.HasExited)
            {
                using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
                if (!server.WaitForExit(60_000)) server.Kill();
            }
        }
    }

    /// <summary>Each body POSTed once by <paramref name="concurrency"/> workers; latencies in ms.</summary>
    private static double[] Send(HttpClient http, string url, string[] bodies, int concurrency, out int errors)
    {
        var latencies = new double[bodies.Length];
        int next = -1, failed = 0;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < bodies.Length)
            {
                long t0 = Stopwatch.GetTimestamp();
                using var r = await http.PostAsync(url + "/predict", new StringContent(bodies[i], System.Text.Encoding.UTF8, "application/json"));
                await r.Content.ReadAsByteArrayAsync();
                latencies[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (r.StatusCode != HttpStatusCode.OK) Interlocked.Increment(ref failed);
            }
        })).ToArray();
        Task.WaitAll(workers);
        errors = failed;
        return latencies;
    }

    /// <summary>The peer: ONNX Runtime in-process on the exported graph, batches of 32 in order, tokenizing included.</summary>
    private static void RunOrt(string dir, string name, List<string> sentences, string tokDir, BenchResults results)
    {
        var tok = AutoTokenizer.FromPretrained(tokDir);
        var options = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(Path.Combine(dir, "model.onnx"), options);
        const int Batch = 32;
        void Pass(IReadOnlyList<string> texts)
        {
            for (int s = 0; s < texts.Count; s += Batch)
            {
                var slice = texts.Skip(s).Take(Batch).ToList();
                var enc = tok.EncodeBatch(slice, null, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 512, Padding = Finetune.Tokenizers.PaddingStrategy.Longest });
                int b = enc.Count, t = enc[0].Length;
                var ids = new long[b * t];
                var mask = new long[b * t];
                var types = new long[b * t];
                for (int r = 0; r < b; r++)
                    for (int i = 0; i < t; i++)
                    {
                        ids[r * t + i] = enc[r].InputIds[i];
                        mask[r * t + i] = enc[r].AttentionMask[i];
                        types[r * t + i] = enc[r].TokenTypeIds[i];
                    }
                int[] dims = [b, t];
                using var output = session.Run(
                [
                    NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, dims)),
                    NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, dims)),
                    NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types, dims)),
                ]);
            }
        }
        Pass(sentences.Take(Batch).ToList()); // warm-up
        var sw = Stopwatch.StartNew();
        Pass(sentences);
        double rate = sentences.Count / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"{name,-10} {"ORT batch 32",-16} {"",8} {rate,8:F1} {"",8} {"",8} {0,6} {"",11}");
        results.Add(new JsonObject { ["suite"] = "serve", ["config"] = name, ["peer"] = "onnxruntime 1.31.1 in-process, batch 32", ["threads"] = Environment.ProcessorCount, ["peer_sentences_per_s"] = Math.Round(rate, 1) });
    }

    private static string WaitForUrl(Process server)
    {
        var read = Task.Run(() =>
        {
            string? line;
            while ((line = server.StandardOutput.ReadLine()) != null)
            {
                int at = line.IndexOf(" at http://", StringComparison.Ordinal);
                if (line.StartsWith("Serving ", StringComparison.Ordinal) && at >= 0) return line[(at + 4)..].Split(' ')[0];
            }
            throw new InvalidOperationException("serve exited: " + server.StandardError.ReadToEnd());
        });
        if (!read.Wait(TimeSpan.FromMinutes(5))) throw new TimeoutException("serve did not start within 5 minutes");
        return read.Result;
    }

    /// <summary>VmHWM of the process (Linux), in MB.</summary>
    private static double PeakRssMb(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        return double.NaN;
    }
}
