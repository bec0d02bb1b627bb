using System.Net;
using System.Text.Json;

namespace Finetune.Tests.Serving;

/// <summary>2,000 requests from 32 concurrent clients on loopback: every answer right, none an error, all counted.</summary>
public sealed class ServeLoadTests(ServingModel model) : IClassFixture<ServingModel>
{
    [SkippableFact]
    public async Task TwoThousandRequestsFromThirtyTwoClientsAreAllAnsweredCorrectly()
    {
        // What the pipeline alone says for each sentence: the reference each served answer must equal.
        var expected = model.Classifier.Pipeline.Predict(ServingModel.Sentences, topK: null);
        await using var server = await model.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 }) { Timeout = TimeSpan.FromSeconds(120) };
        const int Total = 2000, Clients = 32;
        int next = -1, errors = 0, wrong = 0;
        var clients = Enumerable.Range(0, Clients).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Total)
            {
                int s = i % ServingModel.Sentences.Length;
                // Every fourth request is a batch of two, so batches mix request sizes.
                bool batch = i % 4 == 0;
                string body = batch
                    ? JsonSerializer.Serialize(new { inputs = new[] { new[] { ServingModel.Sentences[s] }, new[] { ServingModel.Sentences[(s + 1) % ServingModel.Sentences.Length] } } })
                    : JsonSerializer.Serialize(new { inputs = ServingModel.Sentences[s] });
                var (status, json) = await ServingModel.PostAsync(http, server.Url + "/predict", body);
                if (status != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                var answers = batch ? json.EnumerateArray().ToArray() : [json];
                for (int k = 0; k < answers.Length; k++)
                {
                    var want = expected[(s + k) % ServingModel.Sentences.Length];
                    var got = ServingModel.Read(answers[k]);
                    bool same = got.Length == want.Count;
                    for (int j = 0; same && j < got.Length; j++)
                        same = got[j].Label == want[j].Label && Math.Abs(got[j].Score - want[j].Score) <= 1e-5;
                    if (!same) Interlocked.Increment(ref wrong);
                }
            }
        })).ToArray();
        await Task.WhenAll(clients);
        Assert.Equal(0, errors);
        Assert.Equal(0, wrong);
        Assert.Equal(Total, server.Metrics.RequestCount("/predict", 200));
        Assert.Equal(0, server.Metrics.QueueDepth);
        string metrics = await http.GetStringAsync(server.Url + "/metrics");
        Assert.Contains($"finetune_requests_total{{route=\"/predict\",status=\"200\"}} {Total}\n", metrics);
        Assert.Contains($"finetune_inputs_total {Total + Total / 4}\n", metrics);
    }
}
