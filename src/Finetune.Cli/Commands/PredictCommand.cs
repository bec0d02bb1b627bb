using System.CommandLine;
using System.Text.Json;
using Finetune.Data;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Tokenizers;

namespace Finetune.Cli.Commands;

/// <summary>`finetune predict`: classify JSONL examples of token ids with a saved model, one JSON line out per line in.</summary>
internal sealed class PredictCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + model.safetensors or pytorch_model.bin) or Hub model id.", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub model (default: main)." };
        var input = new Option<string?>("--input") { Description = "JSONL file: {\"input_ids\": [...], \"attention_mask\": [...], \"token_type_ids\": [...]} or {\"text\": ..., \"text_pair\": ...} per line; a .txt file: one plain text per line." };
        var output = new Option<string?>("--output") { Description = "JSONL file to write (with --input): {\"line\", \"text\", \"logits\", \"probs\", \"label\", \"score\"} per input line." };
        var text = new Option<string?>("--text") { Description = "One text to classify instead of --input; prints its label and probabilities." };
        var textPair = new Option<string?>("--text-pair") { Description = "Second text of the pair (with --text)." };
        var ignoreMismatched = new Option<bool>("--ignore-mismatched-sizes") { Description = "Re-initialise weights whose checkpoint shape differs instead of failing (they will be random)." };
        var allowNew = new Option<bool>("--allow-new-weights") { Description = "Predict even when the checkpoint leaves weights random or unused instead of failing." };
        var batchSize = new Option<int>("--batch-size") { Description = "Examples per forward pass.", DefaultValueFactory = _ => 32 };
        var cmd = new Command("predict", "Classify a text, plain-text lines or JSONL examples (token ids, or text with the folder's tokenizer) with a sequence-classification model.");
        cmd.Options.Add(model);
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.Options.Add(text);
        cmd.Options.Add(textPair);
        cmd.Options.Add(batchSize);
        cmd.Options.Add(revision);
        cmd.Options.Add(ignoreMismatched);
        cmd.Options.Add(allowNew);
        cmd.SetAction(parse =>
        {
            int batch = parse.GetValue(batchSize);
            if (batch < 1) throw FinetuneException.Invalid($"--batch-size must be at least 1, not {batch}.");
            string modelDir = parse.GetValue(model)!;
            string? inPath = parse.GetValue(input), outPath = parse.GetValue(output), oneText = parse.GetValue(text), pair = parse.GetValue(textPair);
            if ((oneText == null) == (inPath == null)) throw FinetuneException.Invalid("predict needs either --text TEXT or --input FILE (and not both).");
            if (inPath != null && outPath == null) throw FinetuneException.Invalid("predict --input needs --output FILE.");
            if (pair != null && oneText == null) throw FinetuneException.Invalid("--text-pair goes with --text; in an --input file give \"text_pair\" per line.");
            string? rev = parse.GetValue(revision);
            var err = parse.InvocationConfiguration.Error;
            bool ignore = parse.GetValue(ignoreMismatched);
            // A LoRA adapter folder: its base model with the adapter merged in (one GEMM a layer, as the plain model).
            bool isAdapter = Peft.AdapterFolder.IsAdapter(modelDir);
            SequenceClassificationModel classifier;
            if (isAdapter) classifier = Peft.AdapterFolder.LoadMerged(modelDir, rev, m => err.WriteLine("warning: " + m));
            else
            {
                classifier = AutoModelForSequenceClassification.FromPretrained(modelDir,
                    new FromPretrainedOptions { Revision = rev, IgnoreMismatchedSizes = ignore, AllowNewWeights = parse.GetValue(allowNew), Log = m => err.WriteLine("warning: " + m) }, out var report);
                report.EnsureFits(classifier.ArchitectureName, modelDir, training: false, parse.GetValue(allowNew), ignore);
            }
            var adapter = new Training.SequenceClassifierAdapter(classifier);
            List<Example> examples = oneText != null ? [new Example(1) { Text = oneText, Pair = pair }] : ReadExamples(inPath!);
            // Text lines need the folder's tokenizer; token-id files work without one.
            // An adapter folder a Python peft run wrote holds no tokenizer: the base model's is the one.
            string tokenizerDir = isAdapter && !File.Exists(Path.Combine(modelDir, "tokenizer_config.json")) && !File.Exists(Path.Combine(modelDir, "tokenizer.json"))
                ? Peft.AdapterFolder.ResolveBase(modelDir, Peft.LoraConfig.Load(modelDir)) : modelDir;
            var tokenizer = examples.Any(e => e.Input == null) ? AutoTokenizer.FromPretrained(tokenizerDir, rev) : null;
            string problemType = adapter.ProblemType;
            var pipeline = new TextClassificationPipeline(adapter, tokenizer, batch,
                functionToApply: problemType == ProblemTypes.Regression ? ClassificationFunction.None : null);
            Tokenize(examples, pipeline, tokenizer);
            if (oneText != null)
            {
                PrintPrediction(parse.InvocationConfiguration.Output, pipeline, pipeline.Classify([examples[0].Input!])[0]);
                return 0;
            }
            int count = 0;
            AtomicFile.Write(outPath!, stream =>
            {
                for (int start = 0; start < examples.Count; start += batch)
                {
                    var slice = examples.GetRange(start, Math.Min(batch, examples.Count - start));
                    Prediction[] predictions;
                    try
                    {
                        predictions = pipeline.Classify(slice.Select(e => e.Input!).ToList());
                    }
                    catch (FinetuneException e)
                    {
                        throw new FinetuneException(e.Kind, $"'{inPath}' lines {slice[0].Line}-{slice[^1].Line}: {e.Message}", e);
                    }
                    for (int i = 0; i < predictions.Length; i++) WriteLine(stream, predictions[i], slice[i]);
                    count += predictions.Length;
                }
            });
            parse.InvocationConfiguration.Output.WriteLine($"Wrote {count} predictions ({problemType}) to {outPath}.");
            return 0;
        });
        return cmd;
    }

    /// <summary>One input line: token ids, or a text (and pair) still to be tokenized.</summary>
    private sealed class Example(int line)
    {
        public int Line { get; } = line;
        public PredictionInput? Input { get; set; }
        public string? Text { get; init; }
        public string? Pair { get; init; }
    }

    /// <summary>Encodes the text lines with the model folder's tokenizer, truncated as the pipeline does.</summary>
    private static void Tokenize(List<Example> examples, TextClassificationPipeline pipeline, PreTrainedTokenizer? tokenizer)
    {
        if (tokenizer == null) return;
        // Singles and pairs are encoded as two batches (the tokenizer takes pairs for all rows or none).
        foreach (var group in examples.Where(e => e.Input == null).GroupBy(t => t.Pair != null))
        {
            var rows = group.ToList();
            bool pairs = rows[0].Pair != null;
            var encoded = tokenizer.EncodeBatch(rows.Select(r => r.Text!).ToList(), pairs ? rows.Select(r => r.Pair!).ToList() : null, pipeline.EncodeOptions);
            for (int i = 0; i < rows.Count; i++)
                rows[i].Input = new PredictionInput(encoded[i].InputIds, encoded[i].AttentionMask, encoded[i].TokenTypeIds);
        }
    }

    /// <summary>The label (or value) and every label's probability, for people reading a terminal.</summary>
    private static void PrintPrediction(TextWriter o, TextClassificationPipeline pipeline, Prediction p)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (p.Value is float value)
        {
            o.WriteLine($"value: {value.ToString("R", inv)}");
            return;
        }
        o.WriteLine(p.Labels != null ? $"labels: {string.Join(", ", p.Labels)}" : $"label: {p.Label}");
        o.WriteLine("probabilities:");
        for (int i = 0; i < p.Probs!.Length; i++) o.WriteLine($"  {pipeline.LabelName(i)}: {p.Probs[i].ToString("0.######", inv)}");
    }

    /// <summary>A .txt file is one plain text per line, blank lines included; anything else is JSON lines.</summary>
    private static List<Example> ReadExamples(string path)
    {
        if (!path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase)) return ReadJsonExamples(path);
        if (!File.Exists(path)) throw FinetuneException.Missing($"The input file '{path}' does not exist.");
        var result = new List<Example>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            // Every line gets its output line, a blank one too (the tokenizer gives it [CLS] [SEP]), so outputs line up.
            result.Add(new Example(lineNo) { Text = line });
        }
        return result;
    }

    private static List<Example> ReadJsonExamples(string path) =>
        JsonLines.Read(path, "input file", (root, lineNo) =>
        {
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the line is not a JSON object");
            if (!root.TryGetProperty("input_ids", out var idsEl))
            {
                if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                    throw new FormatException("it has neither \"input_ids\" nor a \"text\" string");
                string? pair = root.TryGetProperty("text_pair", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
                return new Example(lineNo) { Text = text.GetString(), Pair = pair };
            }
            int[] ids = Ints(idsEl, "input_ids");
            int[]? mask = root.TryGetProperty("attention_mask", out var m) ? Ints(m, "attention_mask") : null;
            int[]? types = root.TryGetProperty("token_type_ids", out var t) ? Ints(t, "token_type_ids") : null;
            if ((mask != null && mask.Length != ids.Length) || (types != null && types.Length != ids.Length))
                throw new FormatException("attention_mask / token_type_ids differ in length from input_ids");
            return new Example(lineNo) { Input = new PredictionInput(ids, mask, types) };
        });

    private static int[] Ints(JsonElement el, string name)
    {
        if (el.ValueKind != JsonValueKind.Array) throw new FormatException($"\"{name}\" is not an array");
        var result = new int[el.GetArrayLength()];
        int i = 0;
        foreach (var v in el.EnumerateArray())
            result[i++] = v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x) ? x : throw new FormatException($"\"{name}\" holds {v.GetRawText()}, not an integer");
        return result;
    }

    /// <summary>One output record; "line" (the input's line number) and, for text input, "text" say what it answers.</summary>
    private static void WriteLine(Stream stream, Prediction p, Example e)
    {
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("line", e.Line);
            if (e.Text != null) w.WriteString("text", e.Text);
            if (e.Pair != null) w.WriteString("text_pair", e.Pair);
            w.WriteStartArray("logits");
            foreach (float v in p.Logits) w.WriteNumberValue(v);
            w.WriteEndArray();
            if (p.Value is float value)
            {
                w.WriteNumber("value", value);
            }
            else
            {
                w.WriteStartArray("probs");
                foreach (float v in p.Probs!) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteString("label", p.Label);
                if (p.Labels != null)
                {
                    w.WriteStartArray("labels");
                    foreach (string l in p.Labels) w.WriteStringValue(l);
                    w.WriteEndArray();
                }
            }
            w.WriteNumber("score", p.Score);
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
    }
}
