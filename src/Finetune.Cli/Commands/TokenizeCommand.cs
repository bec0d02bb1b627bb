using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Finetune.Tokenizers;

namespace Finetune.Cli.Commands;

/// <summary>
/// `finetune tokenize --model DIR --input FILE.jsonl --output OUT.jsonl`: one JSON object per input line
/// ({"text", "text_pair"?, "max_length"?, "truncation"?, "padding"?}) becomes one output line
/// ({"input_ids", "token_type_ids", "attention_mask", "tokens"}), as tokenizer(text, text_pair, ...) in Python.
/// </summary>
internal sealed class TokenizeCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Folder with tokenizer.json or the legacy tokenizer files, or a Hub model id", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub model (default: main)." };
        var input = new Option<string>("--input") { Description = "JSONL file: one {\"text\", \"text_pair\"?, \"max_length\"?, \"truncation\"?, \"padding\"?} per line", Required = true };
        var output = new Option<string>("--output") { Description = "JSONL file to write: one {\"input_ids\", \"token_type_ids\", \"attention_mask\", \"tokens\"} per line", Required = true };
        var limit = new Option<int?>("--max-length-limit") { Description = "Largest length a line may pad to (default: the model's max_position_embeddings or model_max_length, else 65536)." };
        var cmd = new Command("tokenize", "Tokenize a JSONL file exactly as Hugging Face tokenizers do.");
        cmd.Options.Add(model);
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.Options.Add(revision);
        cmd.Options.Add(limit);
        cmd.SetAction(parse =>
        {
            int n = Run(parse.GetValue(model)!, parse.GetValue(input)!, parse.GetValue(output)!, parse.GetValue(revision), parse.GetValue(limit));
            parse.InvocationConfiguration.Output.WriteLine($"tokenized {n} lines");
            return 0;
        });
        return cmd;
    }

    private sealed record Request(string Text, string? Pair, EncodeOptions Options);

    /// <summary>Padding length allowed when neither the model nor the option says (a line must not size memory).</summary>
    private const int DefaultMaxLengthLimit = 65536;

    internal static int Run(string modelDir, string inputPath, string outputPath, string? revision = null, int? maxLengthLimit = null)
    {
        var tok = AutoTokenizer.FromPretrained(modelDir, revision);
        if (maxLengthLimit is <= 0) throw new FinetuneException(ErrorKind.InvalidInput, $"--max-length-limit must be positive, not {maxLengthLimit}");
        int limit = maxLengthLimit ?? ModelLengthLimit(modelDir, tok);
        if (!File.Exists(inputPath)) throw FinetuneException.Missing($"input file {inputPath} does not exist");
        var requests = new List<Request>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(inputPath))
        {
            lineNo++;
            if (line.Trim().Length == 0) continue;
            var request = Parse(line, inputPath, lineNo);
            // Padding to max_length allocates what the line asks for: bound it by what the model can take.
            if (request.Options.Padding == PaddingStrategy.MaxLength && (request.Options.MaxLength ?? tok.ModelMaxLength) > limit)
                throw FinetuneException.Invalid($"{inputPath} line {lineNo}: \"max_length\" {request.Options.MaxLength ?? tok.ModelMaxLength} with padding \"max_length\" exceeds the limit of {limit} (the model's length; --max-length-limit sets it)");
            requests.Add(request);
        }
        var results = new Tokenizers.Encoding[requests.Count];
        Parallel.For(0, requests.Count, i => results[i] = tok.Encode(requests[i].Text, requests[i].Pair, requests[i].Options)[0]);
        AtomicFile.Write(outputPath, stream =>
        {
            var opts = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            foreach (var e in results)
            {
                using (var w = new Utf8JsonWriter(stream, opts))
                {
                    w.WriteStartObject();
                    WriteInts(w, "input_ids", e.InputIds);
                    WriteInts(w, "token_type_ids", e.TokenTypeIds);
                    WriteInts(w, "attention_mask", e.AttentionMask);
                    w.WriteStartArray("tokens");
                    foreach (string t in e.Tokens) w.WriteStringValue(t);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                stream.WriteByte((byte)'\n');
            }
        });
        return requests.Count;
    }

    /// <summary>The model's max_position_embeddings (config.json beside the tokenizer) or the tokenizer's model_max_length.</summary>
    private static int ModelLengthLimit(string modelDir, PreTrainedTokenizer tok)
    {
        int limit = tok.ModelMaxLength < int.MaxValue ? tok.ModelMaxLength : DefaultMaxLengthLimit;
        string config = Path.Combine(modelDir, "config.json");
        if (File.Exists(config) && Finetune.Models.PretrainedConfig.ReadJson(config)["max_position_embeddings"] is JsonValue v && v.TryGetValue(out int positions) && positions > 0)
            limit = tok.ModelMaxLength < int.MaxValue ? Math.Max(limit, positions) : positions;
        return limit;
    }

    private static void WriteInts(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static Request Parse(string line, string path, int lineNo)
    {
        JsonObject o;
        try { o = SafeJson.ParseNode(line, path, firstLine: lineNo) as JsonObject ?? throw FinetuneException.Invalid($"{path} line {lineNo}: expected a JSON object"); }
        catch (JsonException e) { throw FinetuneException.Invalid($"{path} line {lineNo}: not valid JSON ({e.Message})", e); }
        string text = Str(o, "text", path, lineNo) ?? throw FinetuneException.Invalid($"{path} line {lineNo}: \"text\" is missing");
        string? pair = Str(o, "text_pair", path, lineNo);
        int? maxLength = null;
        if (o["max_length"] is JsonValue mv && mv.GetValueKind() != JsonValueKind.Null)
            maxLength = mv.TryGetValue(out int m) && m > 0 ? m : throw FinetuneException.Invalid($"{path} line {lineNo}: \"max_length\" must be a positive integer");
        var truncation = o["truncation"] switch
        {
            null => TruncationStrategy.None,
            JsonValue v when v.GetValueKind() == JsonValueKind.Null || v.GetValueKind() == JsonValueKind.False => TruncationStrategy.None,
            JsonValue v when v.GetValueKind() == JsonValueKind.True => TruncationStrategy.LongestFirst,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => (string)v! switch
            {
                "longest_first" => TruncationStrategy.LongestFirst,
                "only_first" => TruncationStrategy.OnlyFirst,
                "only_second" => TruncationStrategy.OnlySecond,
                "do_not_truncate" => TruncationStrategy.None,
                var s => throw FinetuneException.Invalid($"{path} line {lineNo}: unknown truncation \"{s}\" (longest_first, only_first, only_second, true, false)"),
            },
            _ => throw FinetuneException.Invalid($"{path} line {lineNo}: \"truncation\" must be true, false or a strategy name"),
        };
        var padding = o["padding"] switch
        {
            null => PaddingStrategy.None,
            JsonValue v when v.GetValueKind() == JsonValueKind.Null || v.GetValueKind() == JsonValueKind.False => PaddingStrategy.None,
            JsonValue v when v.GetValueKind() == JsonValueKind.True => PaddingStrategy.Longest,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => (string)v! switch
            {
                "longest" => PaddingStrategy.Longest,
                "max_length" => PaddingStrategy.MaxLength,
                "do_not_pad" => PaddingStrategy.None,
                var s => throw FinetuneException.Invalid($"{path} line {lineNo}: unknown padding \"{s}\" (longest, max_length, true, false)"),
            },
            _ => throw FinetuneException.Invalid($"{path} line {lineNo}: \"padding\" must be true, false or a strategy name"),
        };
        return new Request(text, pair, new EncodeOptions { Truncation = truncation, Padding = padding, MaxLength = maxLength });
    }

    private static string? Str(JsonObject o, string key, string path, int lineNo) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => (string)v!,
        _ => throw FinetuneException.Invalid($"{path} line {lineNo}: \"{key}\" must be a string"),
    };
}
