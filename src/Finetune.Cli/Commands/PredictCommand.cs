using System.CommandLine;
using System.Text.Json.Nodes;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Tokenizers;
using Finetune.Training;

namespace Finetune.Cli.Commands;

/// <summary>`finetune predict`: plain text in (options, a file or stdin), label + probabilities out, one JSON line per text.</summary>
internal sealed class PredictCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Trained model folder (config.json + model.safetensors).", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer folder (default: the model folder)." };
        var texts = new Option<string[]>("--text") { Description = "Text to classify (repeatable).", AllowMultipleArgumentsPerToken = false };
        var pair = new Option<string?>("--text-pair") { Description = "Second text of a sentence pair (with a single --text)." };
        var file = new Option<string?>("--input-file") { Description = "File with one text per line (default: stdin when no --text)." };
        var topK = new Option<int?>("--top-k") { Description = "Labels to report per text (default: all)." };
        var batch = new Option<int>("--batch-size") { Description = "Texts per forward pass.", DefaultValueFactory = _ => 32 };
        var maxLength = new Option<int?>("--max-length") { Description = "Truncate inputs to this many tokens." };
        var cmd = new Command("predict", "Classify texts with a trained model: label and softmax probabilities per text (JSON lines).");
        foreach (var o in new Option[] { model, tokenizer, texts, pair, file, topK, batch, maxLength }) cmd.Options.Add(o);
        cmd.SetAction(parse => RecipeCli.Guard(parse, () =>
        {
            string dir = parse.GetValue(model)!;
            if (!Directory.Exists(dir)) throw FinetuneException.Missing($"Model folder '{dir}' does not exist.");
            string tokDir = parse.GetValue(tokenizer) ?? dir;
            if (!Directory.Exists(tokDir)) throw FinetuneException.Missing($"Tokenizer folder '{tokDir}' does not exist.");
            var inputs = (parse.GetValue(texts) ?? Array.Empty<string>()).ToList();
            if (inputs.Count == 0)
            {
                string? path = parse.GetValue(file);
                if (path != null && !File.Exists(path)) throw FinetuneException.Missing($"Input file '{path}' does not exist.");
                using TextReader reader = path != null ? new StreamReader(path) : TextReader.Synchronized(Console.In);
                for (string? line; (line = reader.ReadLine()) != null;)
                    if (line.Length > 0) inputs.Add(line);
            }
            string? second = parse.GetValue(pair);
            if (second != null && inputs.Count != 1) throw FinetuneException.Invalid("--text-pair goes with exactly one --text.");
            var classifier = new SequenceClassifierAdapter(AutoModelForSequenceClassification.FromPretrained(dir));
            var pipe = new TextClassificationPipeline(classifier, AutoTokenizer.FromPretrained(tokDir), parse.GetValue(batch), parse.GetValue(maxLength));
            var results = pipe.Predict(inputs, second != null ? new[] { second } : null, parse.GetValue(topK));
            var w = parse.InvocationConfiguration.Output;
            for (int i = 0; i < inputs.Count; i++)
            {
                var scores = new JsonObject();
                foreach (var s in results[i]) scores[s.Label] = s.Score;
                w.WriteLine(new JsonObject { ["text"] = inputs[i], ["label"] = results[i][0].Label, ["score"] = results[i][0].Score, ["scores"] = scores }.ToJsonString());
            }
            return 0;
        }));
        return cmd;
    }
}
