using System.CommandLine;
using System.Runtime.InteropServices;
using Finetune.Serving;

namespace Finetune.Cli.Commands;

/// <summary>`finetune serve`: a classifier (or a sentence embedder) behind text-embeddings-inference's HTTP API until Ctrl-C or SIGTERM.</summary>
internal sealed class ServeCommand : ICliCommand
{
    public Command Build()
    {
        var defaults = new ServeOptions { Model = "" };
        var model = new Option<string>("--model") { Description = "Model folder or Hub model id (its tokenizer from the same place).", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub model (default: main)." };
        var host = new Option<string>("--host") { Description = "Address to listen on (loopback unless told otherwise).", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port).", DefaultValueFactory = _ => defaults.Port };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { Description = "Tokens one dynamic batch may hold.", DefaultValueFactory = _ => defaults.MaxBatchTokens };
        var maxConcurrent = new Option<int>("--max-concurrent-requests") { Description = "Requests admitted at once; more are answered 429.", DefaultValueFactory = _ => defaults.MaxConcurrentRequests };
        var maxClientBatch = new Option<int>("--max-client-batch-size") { Description = "Inputs one request may carry.", DefaultValueFactory = _ => defaults.MaxClientBatchSize };
        var apiKey = new Option<string?>("--api-key") { Description = "Require `Authorization: Bearer KEY` on every route but /health." };
        var cmd = new Command("serve", "Serve a model over HTTP with text-embeddings-inference's routes (/predict for classifiers, /embed for bare encoders, /health, /info, /metrics), dynamic batching and a web page.");
        foreach (var o in new Option[] { model, revision, host, port, maxBatchTokens, maxConcurrent, maxClientBatch, apiKey }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var options = new ServeOptions
            {
                Model = parse.GetValue(model)!,
                Revision = parse.GetValue(revision),
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                MaxBatchTokens = parse.GetValue(maxBatchTokens),
                MaxConcurrentRequests = parse.GetValue(maxConcurrent),
                MaxClientBatchSize = parse.GetValue(maxClientBatch),
                ApiKey = parse.GetValue(apiKey),
            };
            options.Validate();
            var output = parse.InvocationConfiguration.Output;
            using var stop = new CancellationTokenSource();
            // Ctrl-C and SIGTERM both drain: the handlers cancel the default termination and signal the wait below.
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            // A sequence classifier answers /predict; a bare encoder (sentence-transformers folder) answers /embed.
            var server = ModelServer.LoadAndStartAsync(options).GetAwaiter().GetResult();
            output.WriteLine($"Serving {options.Model} at {server.Url} (Ctrl-C to stop)");
            output.Flush();
            stop.Token.WaitHandle.WaitOne();
            output.WriteLine("Stopping: finishing in-flight requests.");
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            output.WriteLine("Stopped.");
            return 0;
        });
        return cmd;
    }
}
