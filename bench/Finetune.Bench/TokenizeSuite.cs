using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Finetune.Tokenizers;

namespace Finetune.Bench;

/// <summary>
/// `tokenize`: tokens per second on IMDB test reviews for a WordPiece (BERT), a byte-level BPE (RoBERTa) and a
/// Unigram (CamemBERT) tokenizer, on one thread and on all cores. No Python here, so the peer is the figure
/// usually quoted for Hugging Face's Rust tokenizers (~1M tokens/s per core for BERT), printed for scale.
/// Options: --shared DIR (default ../shared), --reviews N (default 5000), --seconds S per measurement (default 3).
/// </summary>
public sealed class TokenizeSuite : IBenchSuite
{
    private const double RustQuotedTokensPerSecondPerCore = 1_000_000;

    public string Name => "tokenize";

    public string Description => "tokens/s for BERT, RoBERTa and Unigram tokenizers on IMDB reviews, 1 thread and all threads";

    public int Run(string[] args, BenchResults results)
    {
        string shared = BenchArgs.Get(args, "--shared") ?? BenchArgs.FindShared();
        int reviews = int.Parse(BenchArgs.Get(args, "--reviews") ?? "5000", CultureInfo.InvariantCulture);
        double seconds = double.Parse(BenchArgs.Get(args, "--seconds") ?? "3", CultureInfo.InvariantCulture);
        var texts = ReadImdb(Path.Combine(shared, "datasets/imdb/imdb_test.csv.gz"), reviews);
        Console.WriteLine($"{texts.Count} IMDB test reviews, {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"tokenizer",-28} {"threads",7} {"tokens/s",14} {"vs Rust quote/core",20}");
        foreach (var (name, dir) in new[] { ("bert-base-uncased (WordPiece)", "models/bert-base-uncased"), ("roberta-base (byte BPE)", "models/roberta-base"), ("camembert-base (Unigram)", "models/camembert-base") })
        {
            var tok = AutoTokenizer.FromPretrained(Path.Combine(shared, dir));
            var opts = new EncodeOptions { AddSpecialTokens = false };
            long tokensPerPass = tok.EncodeBatch(texts, options: opts).Rows.Sum(r => (long)r.Length);
            foreach (int threads in new[] { 1, Environment.ProcessorCount })
            {
                double rate = Measure(() =>
                {
                    if (threads == 1) foreach (var t in texts) tok.Encode(t, options: opts);
                    else tok.EncodeBatch(texts, options: opts);
                }, tokensPerPass, seconds);
                double perCore = rate / threads;
                Console.WriteLine($"{name,-28} {threads,7} {rate,14:N0} {perCore / RustQuotedTokensPerSecondPerCore,19:F2}x");
                results.Add(new JsonObject
                {
                    ["suite"] = "tokenize",
                    ["config"] = name,
                    ["threads"] = threads,
                    ["tokens_per_s"] = Math.Round(rate),
                    ["peer"] = "HF Rust tokenizers (quoted, not measured)",
                    ["peer_tokens_per_s_per_core"] = RustQuotedTokensPerSecondPerCore,
                });
            }
        }
        return 0;
    }

    private static double Measure(Action pass, long tokensPerPass, double seconds)
    {
        pass(); // warm-up: JIT and caches
        var sw = Stopwatch.StartNew();
        int passes = 0;
        do { pass(); passes++; } while (sw.Elapsed.TotalSeconds < seconds);
        return tokensPerPass * passes / sw.Elapsed.TotalSeconds;
    }

    // The first column of a CSV file with a header (RFC 4180 quoting: "" inside quotes, newlines allowed).
    private static List<string> ReadImdb(string path, int max)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        var texts = new List<string>();
        var field = new System.Text.StringBuilder();
        bool header = true;
        while (texts.Count < max && reader.Peek() >= 0)
        {
            field.Clear();
            int c = reader.Read();
            if (c == '"')
            {
                while ((c = reader.Read()) >= 0)
                {
                    if (c == '"') { if (reader.Peek() == '"') { reader.Read(); field.Append('"'); } else break; }
                    else field.Append((char)c);
                }
            }
            else while (c >= 0 && c != ',' && c != '\n') { field.Append((char)c); c = reader.Read(); }
            // skip the rest of the record
            bool quoted = false;
            while ((c = reader.Read()) >= 0 && (quoted || c != '\n')) if (c == '"') quoted = !quoted;
            if (header) { header = false; continue; }
            texts.Add(field.ToString());
        }
        return texts;
    }
}
