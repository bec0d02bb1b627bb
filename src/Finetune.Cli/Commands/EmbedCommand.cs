using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Finetune.Data;
using Finetune.Inference;

namespace Finetune.Cli.Commands;

/// <summary>`finetune embed`: sentence embeddings (sentence-transformers' encode) of a text or of a file of texts.</summary>
internal sealed class EmbedCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Option<string>("--model") { Description = "Model folder or Hub model id (modules.json and 1_Pooling/config.json say how to pool; default mean pooling).", Required = true };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit of a Hub model (default: main)." };
        var text = new Option<string?>("--text") { Description = "One text to embed; its embedding is printed (or written with --output)." };
        var input = new Option<string?>("--input") { Description = "JSONL file with a \"text\" string per line, or a .txt file with one text per non-blank line." };
        var output = new Option<string?>("--output") { Description = "JSONL file to write: {\"embedding\": [...]} per input (default: standard output)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per forward pass.", DefaultValueFactory = _ => 32 };
        var cmd = new Command("embed", "Sentence embeddings of texts, pooled and normalised as the model's sentence-transformers modules say.");
        foreach (var o in new Option[] { model, text, input, output, batchSize, revision }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int batch = parse.GetValue(batchSize);
            if (batch < 1) throw FinetuneException.Invalid($"--batch-size must be at least 1, not {batch}.");
            string? one = parse.GetValue(text), inPath = parse.GetValue(input), outPath = parse.GetValue(output);
            if ((one == null) == (inPath == null)) throw FinetuneException.Invalid("embed needs either --text TEXT or --input FILE (and not both).");
            List<string> texts = one != null ? [one] : ReadTexts(inPath!);
            var embedder = SentenceEmbedder.FromPretrained(parse.GetValue(model)!, parse.GetValue(revision));
            float[][] vectors = embedder.Encode(texts, batch);
            if (outPath == null)
            {
                foreach (var v in vectors) parse.InvocationConfiguration.Output.WriteLine(Line(v));
                return 0;
            }
            AtomicFile.Write(outPath, stream =>
            {
                foreach (var v in vectors)
                {
                    byte[] bytes = Encoding.UTF8.GetBytes(Line(v) + "\n");
                    stream.Write(bytes);
                }
            });
            parse.InvocationConfiguration.Output.WriteLine($"Wrote {vectors.Length} embeddings of dimension {embedder.Dimension} to {outPath}.");
            return 0;
        });
        return cmd;
    }

    /// <summary>{"embedding": [...]} with each float32 in its shortest round-trip form.</summary>
    private static string Line(float[] v)
    {
        var sb = new StringBuilder("{\"embedding\": [");
        for (int i = 0; i < v.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(v[i].ToString("R", CultureInfo.InvariantCulture));
        }
        return sb.Append("]}").ToString();
    }

    private static List<string> ReadTexts(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"The input file '{path}' does not exist.");
        var result = new List<string>();
        if (path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            foreach (string line in File.ReadLines(path))
                if (!string.IsNullOrWhiteSpace(line)) result.Add(line);
            return result;
        }
        return JsonLines.Read(path, "input file", (root, lineNo) =>
        {
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw new FormatException("the line is not a JSON object with a \"text\" string");
            return t.GetString()!;
        });
    }
}
