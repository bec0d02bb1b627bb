using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Serving;

namespace Finetune.Tests.Serving;

/// <summary>/embed on a bare encoder with a sentence-transformers config: the vectors equal SentenceEmbedder's.</summary>
public sealed class ServeEmbedTests
{
    [SkippableFact]
    public async Task EmbedAnswersWhatSentenceEmbedderComputes()
    {
        string config = SharedData.Require("models/bert-tiny/config.json");
        string tok = SharedData.Require("models/bert-base-uncased");
        using var tmp = new TempDir();
        string dir = tmp.File("embedder");
        Directory.CreateDirectory(dir);
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        json["architectures"] = new JsonArray("BertModel");
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        AutoModel.FromConfig(AutoConfig.FromPretrained(dir), new Finetune.Tensors.Generator(4)).SavePretrained(dir);
        foreach (string f in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt" })
            File.Copy(Path.Combine(tok, f), Path.Combine(dir, f));
        File.WriteAllText(Path.Combine(dir, "modules.json"), """
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
            """);
        Directory.CreateDirectory(Path.Combine(dir, "1_Pooling"));
        File.WriteAllText(Path.Combine(dir, "1_Pooling", "config.json"), """{"word_embedding_dimension": 128, "pooling_mode_mean_tokens": true}""");

        var want = SentenceEmbedder.FromPretrained(dir).Encode(ServingModel.Sentences);
        await using var server = await ModelServer.LoadAndStartAsync(new ServeOptions { Model = dir, Port = 0 });
        using var http = new HttpClient();
        var (code, body) = await ServingModel.PostAsync(http, server.Url + "/embed", JsonSerializer.Serialize(new { inputs = ServingModel.Sentences }));
        Assert.Equal(HttpStatusCode.OK, code);
        var got = body.EnumerateArray().Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++) Finetune.Tests.Models.Close.Elementwise($"sentence {i}", want[i], got[i], 1e-5, 1e-5);
        Assert.Equal(1.0, Math.Sqrt(got[0].Sum(x => (double)x * x)), 5);

        // One text is still a list of one vector; normalize=false gives the raw mean.
        (code, body) = await ServingModel.PostAsync(http, server.Url + "/embed", JsonSerializer.Serialize(new { inputs = ServingModel.Sentences[0], normalize = false }));
        Assert.Equal(HttpStatusCode.OK, code);
        var raw = body[0].EnumerateArray().Select(x => x.GetSingle()).ToArray();
        double norm = Math.Sqrt(raw.Sum(x => (double)x * x));
        Finetune.Tests.Models.Close.Elementwise("unnormalised", want[0], raw.Select(x => (float)(x / norm)).ToArray(), 1e-5, 1e-5);

        var info = JsonDocument.Parse(await http.GetStringAsync(server.Url + "/info")).RootElement;
        Assert.Equal("mean", info.GetProperty("model_type").GetProperty("embedding").GetProperty("pooling").GetString());
        (code, body) = await ServingModel.PostAsync(http, server.Url + "/predict", "{\"inputs\": \"x\"}");
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("validation", body.GetProperty("error_type").GetString());
        (code, _) = await ServingModel.PostAsync(http, server.Url + "/embed", "{\"inputs\": [3]}");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, code);
    }
}
