using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Finetune.Tokenizers;

namespace Finetune.Bench;

/// <summary>
/// `tokenize`: tokens per second on IMDB test reviews for a WordPiece (BERT), a byte-level BPE (RoBERTa) and a
/// Unigram (CamemBERT) tokenizer, on one thread and on all cores, beside the .NET peers (--peers mltokenizers,fastbert
/// or none): Microsoft.ML.Tokenizers' BertTokenizer and CodeGenTokenizer (byte-level BPE on roberta-base's files),
/// FastBertTokenizer. Each side encodes the same texts without special tokens, one text per call (on all cores: the
/// same Parallel.For over the texts for every side); rounds alternate between the sides and the best round counts.
/// Ours is measured as the peers return their result, ids alone into a reused buffer (TryEncodeIds, tokenizer.encode),
/// and beside that with the full Encoding (ids, type ids, mask, offsets, word ids, tokens) that Encode builds.
/// Per peer also: how many encodings equal ours (ours equal Hugging Face's, see the golden tests) with a few
/// differences shown, and how many of the Hugging Face golden encodings of
/// ../shared/golden/tokenizers each side reproduces (plain singles: no pair, truncation or padding).
/// Options: --shared DIR (default ../shared), --reviews N (2000), --seconds S per measurement (3), --rounds R (2),
/// --peers LIST (mltokenizers,fastbert), --samples N differences to show per peer (3).
/// </summary>
public sealed class TokenizeSuite : IBenchSuite
{
    public string Name => "tokenize";

    public string Description => "tokens/s for BERT, RoBERTa and Unigram tokenizers on IMDB reviews, 1 thread and all threads, vs Microsoft.ML.Tokenizers and FastBertTokenizer";

    public int Run(string[] args, BenchResults results)
    {
        string shared = BenchArgs.Get(args, "--shared") ?? BenchArgs.FindShared();
        int reviews = int.Parse(BenchArgs.Get(args, "--reviews") ?? "2000", CultureInfo.InvariantCulture);
        double seconds = double.Parse(BenchArgs.Get(args, "--seconds") ?? "3", CultureInfo.InvariantCulture);
        int rounds = int.Parse(BenchArgs.Get(args, "--rounds") ?? "2", CultureInfo.InvariantCulture);
        int samples = int.Parse(BenchArgs.Get(args, "--samples") ?? "3", CultureInfo.InvariantCulture);
        string peerList = BenchArgs.Get(args, "--peers") ?? string.Join(',', TokenizerPeer.Names);
        string[] peerNames = peerList == "none" ? [] : peerList.Split(',');
        foreach (string p in peerNames)
            if (!TokenizerPeer.Names.Contains(p)) throw new ArgumentException($"unknown peer '{p}'; known: {string.Join(", ", TokenizerPeer.Names)}, none");
        var texts = ReadImdb(Path.Combine(shared, "datasets/imdb/imdb_test.csv.gz"), reviews);
        int all = Environment.ProcessorCount;
        Console.WriteLine($"{texts.Count} IMDB test reviews, {all} cores, best of {rounds} alternating rounds of {seconds} s");
        var rows = new List<string>();
        foreach (var (name, dir, kind) in new[] { ("bert-base-uncased (WordPiece)", "models/bert-base-uncased", "wordpiece"), ("roberta-base (byte BPE)", "models/roberta-base", "bytebpe"), ("camembert-base (Unigram)", "models/camembert-base", "unigram") })
        {
            var tok = AutoTokenizer.FromPretrained(Path.Combine(shared, dir));
            var opts = new EncodeOptions { AddSpecialTokens = false };
            var ours = new int[texts.Count][];
            for (int i = 0; i < texts.Count; i++) ours[i] = tok.EncodeIds(texts[i], addSpecialTokens: false);
            long tokensPerPass = 0;
            foreach (var ids in ours) tokensPerPass += ids.Length;
            var golden = GoldenSingles(Path.Combine(shared, "golden/tokenizers", Path.GetFileName(dir) + ".jsonl"));
            int oursGolden = golden.Count(g => g.Ids.AsSpan().SequenceEqual(tok.EncodeIds(g.Text, addSpecialTokens: false)));

            var peers = new List<(string Key, TokenizerPeer? Peer, string? Error)>();
            foreach (string p in peerNames)
            {
                try
                {
                    if (TokenizerPeer.Create(p, kind, Path.Combine(shared, dir)) is { } peer) peers.Add((p, peer, null));
                }
                catch (Exception e) { peers.Add((p, null, $"{e.GetType().Name}: {e.Message}")); }
            }
            var agreement = new Dictionary<string, (int Identical, int Golden)>();
            foreach (var (key, peer, _) in peers)
                if (peer != null) agreement[key] = Compare(tok, texts, ours, peer, golden, samples);

            foreach (int threads in all > 1 ? new[] { 1, all } : new[] { 1 })
            {
                double ourRate = 0, fullRate = 0;
                var peerRates = new Dictionary<string, double>();
                for (int r = 0; r < rounds; r++)
                {
                    // As the peers: one text per call on each worker, the ids into a buffer the worker reuses.
                    ourRate = Math.Max(ourRate, Measure(() =>
                    {
                        if (threads == 1) foreach (var t in texts) tok.TryEncodeIds(t, IdBuffer(), out _, addSpecialTokens: false);
                        else Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => tok.TryEncodeIds(texts[i], IdBuffer(), out _, addSpecialTokens: false));
                    }, tokensPerPass, seconds));
                    // The full Encoding, the result dropped. (EncodeBatch keeps every row of the batch alive until it
                    // returns, which measures the GC's promotions as much as the tokenizer.)
                    fullRate = Math.Max(fullRate, Measure(() =>
                    {
                        if (threads == 1) foreach (var t in texts) tok.Encode(t, options: opts);
                        else Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => tok.Encode(texts[i], options: opts));
                    }, tokensPerPass, seconds));
                    foreach (var (key, peer, _) in peers)
                    {
                        if (peer == null) continue;
                        double rate = Measure(() =>
                        {
                            if (threads == 1) foreach (var t in texts) peer.Count(t);
                            else Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => peer.Count(texts[i]));
                        }, tokensPerPass, seconds);
                        peerRates[key] = Math.Max(peerRates.GetValueOrDefault(key), rate);
                    }
                }
                var row = new JsonObject
                {
                    ["suite"] = "tokenize",
                    ["model"] = name,
                    ["threads"] = threads,
                    ["tokens_per_s"] = Math.Round(ourRate),
                    ["full_encoding_tokens_per_s"] = Math.Round(fullRate),
                    ["total"] = texts.Count,
                    ["golden_identical"] = oursGolden,
                    ["golden_total"] = golden.Count,
                };
                if (peers.Count == 0)
                {
                    results.Add(row);
                    rows.Add($"| {name} | {threads} | {ourRate:N0} | {fullRate:N0} | - | - | - | - | {oursGolden}/{golden.Count} | - |");
                }
                foreach (var (key, peer, error) in peers)
                {
                    var line = row.DeepClone().AsObject();
                    line["peer"] = peer?.Name ?? key;
                    if (error != null)
                    {
                        line["peer_error"] = error;
                        rows.Add($"| {name} | {threads} | {ourRate:N0} | {fullRate:N0} | {key} (error: {error}) | - | - | - | {oursGolden}/{golden.Count} | - |");
                    }
                    else
                    {
                        double rate = peerRates[key];
                        var (identical, peerGolden) = agreement[key];
                        line["peer_tokens_per_s"] = Math.Round(rate);
                        line["speedup"] = Math.Round(ourRate / rate, 3);
                        line["identical"] = identical;
                        line["peer_golden_identical"] = peerGolden;
                        rows.Add($"| {name} | {threads} | {ourRate:N0} | {fullRate:N0} | {peer!.Name} | {rate:N0} | {ourRate / rate:F2}x | {identical}/{texts.Count} | {oursGolden}/{golden.Count} | {peerGolden}/{golden.Count} |");
                    }
                    results.Add(line);
                }
            }
        }
        Console.WriteLine();
        Console.WriteLine("| tokenizer | threads | finetune tokens/s | finetune full Encoding tokens/s | peer | peer tokens/s | speed-up | peer = ours (IMDB) | finetune = HF (golden) | peer = HF (golden) |");
        Console.WriteLine("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (string r in rows) Console.WriteLine(r);
        return 0;
    }

    /// <summary>
    /// Encodings of the peer equal to ours, with the first <paramref name="samples"/> differences printed (where:
    /// the text around the first differing token, and both sides' tokens from there), and the peer's count of
    /// golden encodings reproduced.
    /// </summary>
    private static (int Identical, int Golden) Compare(PreTrainedTokenizer tok, List<string> texts, int[][] ours, TokenizerPeer peer, List<(string Text, int[] Ids)> golden, int samples)
    {
        int identical = 0, shown = 0;
        for (int i = 0; i < texts.Count; i++)
        {
            int[] theirs = peer.Ids(texts[i]);
            if (theirs.AsSpan().SequenceEqual(ours[i])) { identical++; continue; }
            if (shown++ >= samples) continue;
            int k = 0;
            while (k < theirs.Length && k < ours[i].Length && theirs[k] == ours[i][k]) k++;
            var enc = tok.Encode(texts[i], options: new EncodeOptions { AddSpecialTokens = false })[0];
            int at = k < enc.Offsets.Length ? enc.Offsets[k].Start : texts[i].Length;
            string Tokens(int[] ids) => string.Join(" ", ids.Skip(k).Take(4).Select(id => tok.IdToToken(id) ?? id.ToString(CultureInfo.InvariantCulture)));
            Console.WriteLine($"  {peer.Name} differs on review {i} at token {k}, text \"{Escape(texts[i], at - 20, 40)}\": finetune [{Tokens(ours[i])}] vs peer [{Tokens(theirs)}]");
        }
        int goldenIdentical = 0;
        foreach (var (text, ids) in golden)
            if (peer.Ids(text).AsSpan().SequenceEqual(ids)) goldenIdentical++;
        Console.WriteLine($"  {peer.Name}: {identical}/{texts.Count} IMDB encodings equal ours, {goldenIdentical}/{golden.Count} Hugging Face golden encodings reproduced");
        return (identical, goldenIdentical);
    }

    /// <summary>A slice of the text with anything outside printable ASCII written as \uXXXX, so invisible characters show.</summary>
    private static string Escape(string text, int from, int length)
    {
        from = Math.Max(0, from);
        var sb = new System.Text.StringBuilder();
        for (int i = from; i < Math.Min(text.Length, from + length); i++)
            sb.Append(text[i] is >= ' ' and <= '~' and not '"' ? text[i].ToString() : $"\\u{(int)text[i]:X4}");
        return sb.ToString();
    }

    /// <summary>Hugging Face's encodings of plain single texts (no pair, truncation or padding), special tokens removed; empty when the file is absent.</summary>
    private static List<(string Text, int[] Ids)> GoldenSingles(string path)
    {
        var list = new List<(string, int[])>();
        if (!File.Exists(path)) return list;
        foreach (string line in File.ReadLines(path))
        {
            var o = JsonNode.Parse(line)!.AsObject();
            if (o.ContainsKey("text_pair") || o["truncation"]?.GetValueKind() != System.Text.Json.JsonValueKind.False || o["padding"]?.GetValueKind() != System.Text.Json.JsonValueKind.False) continue;
            var ids = o["input_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            if (ids.Length >= 2) list.Add((o["text"]!.GetValue<string>(), ids[1..^1]));
        }
        return list;
    }

    [ThreadStatic] private static int[]? _idBuffer;

    // Far above any IMDB review's token count, as the FastBertTokenizer peer's buffers.
    private static int[] IdBuffer() => _idBuffer ??= new int[1 << 16];

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
