using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Finetune.Models;
using Finetune.Serving;

namespace Finetune.Tests.Serving;

/// <summary>
/// A small classifier for the server tests: bert-tiny's config initialised from a fixed seed with three named
/// labels and the bert-base-uncased tokenizer, saved to a temporary model folder like a fine-tuned model.
/// </summary>
public sealed class ServingModel : IDisposable
{
    public static readonly string[] LabelNames = ["negative", "neutral", "positive"];
    private readonly TempDir tmp = new();
    private readonly Lazy<ServedClassifier> classifier;

    public ServingModel()
    {
        classifier = new Lazy<ServedClassifier>(() => ServedClassifier.Load(Dir));
    }

    /// <summary>The model folder (built on first use; skips when ../shared is absent).</summary>
    public string Dir
    {
        get
        {
            string dir = tmp.File("model");
            if (File.Exists(Path.Combine(dir, "model.safetensors"))) return dir;
            string config = SharedData.Require("models/bert-tiny/config.json");
            string tok = SharedData.Require("models/bert-base-uncased");
            lock (tmp)
            {
                if (File.Exists(Path.Combine(dir, "model.safetensors"))) return dir;
                Directory.CreateDirectory(dir);
                var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(config))!.AsObject();
                json["id2label"] = new System.Text.Json.Nodes.JsonObject { ["0"] = LabelNames[0], ["1"] = LabelNames[1], ["2"] = LabelNames[2] };
                json["label2id"] = new System.Text.Json.Nodes.JsonObject { [LabelNames[0]] = 0, [LabelNames[1]] = 1, [LabelNames[2]] = 2 };
                File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
                var model = AutoModelForSequenceClassification.FromConfig(AutoConfig.FromPretrained(dir), new Finetune.Tensors.Generator(11));
                // A random head scores every label near 1/3; a larger classifier makes the labels differ per text.
                foreach (var p in model.NamedParameters())
                    if (p.Name.StartsWith("classifier.", StringComparison.Ordinal))
                    {
                        var v = p.Value.Span;
                        for (int i = 0; i < v.Length; i++) v[i] *= 40;
                    }
                model.SavePretrained(dir);
                foreach (string f in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt" })
                    File.Copy(Path.Combine(tok, f), Path.Combine(dir, f));
                return dir;
            }
        }
    }

    public ServedClassifier Classifier => Dir != null ? classifier.Value : throw new InvalidOperationException();

    public Task<ModelServer> StartAsync(Func<ServeOptions, ServeOptions>? configure = null)
    {
        var options = new ServeOptions { Model = Dir, Port = 0 };
        return ModelServer.StartAsync(configure?.Invoke(options) ?? options, Classifier);
    }

    public void Dispose() => tmp.Dispose();

    /// <summary>Sentences from rotten_tomatoes' style, with one long enough to need truncation at bert-tiny's 512.</summary>
    public static readonly string[] Sentences =
    [
        "a gorgeous, witty, seductive movie.",
        "the plot is paper-thin and the acting is wooden.",
        "it's not a bad film, just a forgettable one.",
        "one of the most moving stories i have seen in years.",
        "too long, too loud and far too pleased with itself.",
        "the cast is uniformly excellent.",
        "i laughed, i cried, i checked my watch.",
        "an ambitious failure that is still worth seeing.",
    ];

    /// <summary>A free loopback port (bound then released; the server binds it right after).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, string url, string json)
    {
        using var response = await http.PostAsync(url, new StringContent(json, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>[{"score", "label"}...] as (label, score) pairs.</summary>
    public static (string Label, float Score)[] Read(JsonElement list) =>
        list.EnumerateArray().Select(p => (p.GetProperty("label").GetString()!, p.GetProperty("score").GetSingle())).ToArray();
}
