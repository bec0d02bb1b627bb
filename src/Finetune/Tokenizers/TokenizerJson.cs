using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Finetune.Tokenizers;

/// <summary>
/// Loads the Hugging Face tokenizers format (tokenizer.json): normalizer, pre_tokenizer, model, post_processor,
/// decoder and added_tokens. Every problem becomes one FinetuneException naming the file and the component.
/// </summary>
internal static class TokenizerJson
{
    public static TokenizerPipeline Load(string path, TokenizerSettings settings)
    {
        if (AutoTokenizer.ReadJson(path) is not JsonObject root) throw FinetuneException.Invalid($"{path} must hold a JSON object");
        var r = new Reader(path);
        if (root["model"] is not JsonObject modelNode) throw FinetuneException.Invalid($"{path} has no \"model\" object");
        var added = new List<AddedToken>();
        if (root["added_tokens"] is JsonArray arr)
        {
            foreach (var n in arr)
            {
                if (n is not JsonObject o) throw r.Fail("added_tokens", "each entry must be an object");
                added.Add(new AddedToken(r.Str(o, "content", "added_tokens"), r.Int(o, "id", "added_tokens"), AutoTokenizer.Bool(o["special"]) ?? false,
                    AutoTokenizer.Bool(o["lstrip"]) ?? false, AutoTokenizer.Bool(o["rstrip"]) ?? false, AutoTokenizer.Bool(o["single_word"]) ?? false,
                    AutoTokenizer.Bool(o["normalized"]) ?? false));
            }
        }
        var model = r.Model(modelNode);
        return new TokenizerPipeline
        {
            Model = model,
            Normalizer = root["normalizer"] is JsonObject nn ? r.Normalizer(nn) : null,
            PreTokenizer = root["pre_tokenizer"] is JsonObject pn ? r.PreTokenizer(pn) : null,
            PostProcessor = root["post_processor"] is JsonObject ppn ? r.PostProcessor(ppn, model, added) : null,
            Decoder = root["decoder"] is JsonObject dn ? r.Decoder(dn) : null,
            TrimOffsets = root["post_processor"] is JsonObject tp && Reader.TrimsOffsets(tp),
            Added = new AddedVocabulary(added),
        };
    }

    private sealed class Reader(string path)
    {
        /// <summary>Whether a ByteLevel or RobertaProcessing post-processor (possibly inside a Sequence) trims offsets.</summary>
        public static bool TrimsOffsets(JsonObject o) => AutoTokenizer.Str(o["type"]) switch
        {
            "ByteLevel" or "RobertaProcessing" => AutoTokenizer.Bool(o["trim_offsets"]) ?? true,
            "Sequence" => o["processors"] is JsonArray a && a.Any(p => p is JsonObject po && TrimsOffsets(po)),
            _ => false,
        };

        public FinetuneException Fail(string where, string message) => FinetuneException.Invalid($"{path}: {where}: {message}");

        private FinetuneException Unknown(string kind, string type) =>
            new(ErrorKind.Unsupported, $"{path}: unknown {kind} type \"{type}\"");

        public string Str(JsonObject o, string key, string where) =>
            AutoTokenizer.Str(o[key]) ?? throw Fail(where, $"\"{key}\" must be a string");

        public int Int(JsonObject o, string key, string where) =>
            o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int i) ? i : throw Fail(where, $"\"{key}\" must be an integer");

        private static string? OptStr(JsonObject o, string key) => AutoTokenizer.Str(o[key]);

        private static bool OptBool(JsonObject o, string key, bool fallback) => AutoTokenizer.Bool(o[key]) ?? fallback;

        private string Type(JsonObject o, string kind) => Str(o, "type", kind);

        private Regex Pattern(JsonObject o, string where)
        {
            if (o["pattern"] is not JsonObject p) throw Fail(where, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
            if (AutoTokenizer.Str(p["String"]) is { } s) return new Regex(Regex.Escape(s), RegexOptions.CultureInvariant);
            if (AutoTokenizer.Str(p["Regex"]) is { } re)
            {
                try { return new Regex(re, RegexOptions.CultureInvariant); }
                catch (ArgumentException e) { throw new FinetuneException(ErrorKind.Unsupported, $"{path}: {where}: the regex {re} is not supported by .NET ({e.Message})", e); }
            }
            throw Fail(where, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
        }

        private SplitBehavior Behavior(JsonObject o, string where, SplitBehavior fallback)
        {
            string? b = OptStr(o, "behavior");
            if (b == null) return fallback;
            return Enum.TryParse<SplitBehavior>(b, out var v) ? v : throw Fail(where, $"unknown split behavior \"{b}\"");
        }

        private List<JsonObject> Objects(JsonObject o, string key, string where)
        {
            if (o[key] is not JsonArray a) throw Fail(where, $"\"{key}\" must be a list");
            return a.Select(n => n as JsonObject ?? throw Fail(where, $"every entry of \"{key}\" must be an object")).ToList();
        }

        public Normalizer Normalizer(JsonObject o)
        {
            string type = Type(o, "normalizer");
            switch (type)
            {
                case "BertNormalizer":
                    bool lower = OptBool(o, "lowercase", true);
                    return new BertNormalizer(OptBool(o, "clean_text", true), OptBool(o, "handle_chinese_chars", true), AutoTokenizer.Bool(o["strip_accents"]) ?? lower, lower);
                case "Lowercase": return new LowercaseNormalizer();
                case "NFC": return new UnicodeNormalizer(NormalForm.Nfc);
                case "NFD": return new UnicodeNormalizer(NormalForm.Nfd);
                case "NFKC": return new UnicodeNormalizer(NormalForm.Nfkc);
                case "NFKD": return new UnicodeNormalizer(NormalForm.Nfkd);
                case "StripAccents": return new StripAccentsNormalizer();
                case "Strip": return new StripNormalizer(OptBool(o, "strip_left", true), OptBool(o, "strip_right", true));
                case "Replace": return new ReplaceNormalizer(Pattern(o, "Replace normalizer"), Str(o, "content", "Replace normalizer"));
                case "Prepend": return new PrependNormalizer(Str(o, "prepend", "Prepend normalizer"));
                case "Precompiled":
                    {
                        string b64 = OptStr(o, "precompiled_charsmap") ?? "";
                        if (b64.Length == 0) return new SequenceNormalizer([]);
                        byte[] blob;
                        try { blob = Convert.FromBase64String(b64); }
                        catch (FormatException e) { throw FinetuneException.Invalid($"{path}: Precompiled normalizer: precompiled_charsmap is not base64", e); }
                        return new PrecompiledNormalizer(new PrecompiledCharsMap(blob, path));
                    }
                case "Sequence": return new SequenceNormalizer(Objects(o, "normalizers", "Sequence normalizer").Select(Normalizer).ToList());
                default: throw Unknown("normalizer", type);
            }
        }

        public PreTokenizer PreTokenizer(JsonObject o)
        {
            string type = Type(o, "pre_tokenizer");
            switch (type)
            {
                case "BertPreTokenizer": return new BertPreTokenizer();
                case "ByteLevel": return new ByteLevelPreTokenizer(OptBool(o, "add_prefix_space", true), OptBool(o, "use_regex", true));
                case "Metaspace":
                    {
                        string rep = OptStr(o, "replacement") ?? "\u2581";
                        string scheme = OptStr(o, "prepend_scheme") ?? (OptBool(o, "add_prefix_space", true) ? "always" : "never");
                        if (rep.Length != 1) throw Fail("Metaspace pre_tokenizer", "\"replacement\" must be one character");
                        return new MetaspacePreTokenizer(rep[0], scheme, OptBool(o, "split", true));
                    }
                case "Whitespace": return new WhitespacePreTokenizer();
                case "WhitespaceSplit": return new WhitespaceSplitPreTokenizer();
                case "Punctuation": return new PunctuationPreTokenizer(Behavior(o, "Punctuation pre_tokenizer", SplitBehavior.Isolated));
                case "Split":
                    return new SplitPreTokenizer(Pattern(o, "Split pre_tokenizer"), Behavior(o, "Split pre_tokenizer", SplitBehavior.Removed), OptBool(o, "invert", false));
                case "CharDelimiterSplit":
                    return new SplitPreTokenizer(new Regex(Regex.Escape(Str(o, "delimiter", "CharDelimiterSplit pre_tokenizer"))), SplitBehavior.Removed, false);
                case "Digits": return new DigitsPreTokenizer(OptBool(o, "individual_digits", false));
                case "Sequence": return new SequencePreTokenizer(Objects(o, "pretokenizers", "Sequence pre_tokenizer").Select(PreTokenizer).ToList());
                default: throw Unknown("pre_tokenizer", type);
            }
        }

        public TokenizerModel Model(JsonObject o)
        {
            string? type = OptStr(o, "type");
            type ??= o.ContainsKey("merges") ? "BPE" : o["vocab"] is JsonArray ? "Unigram" : o.ContainsKey("continuing_subword_prefix") || o.ContainsKey("max_input_chars_per_word") ? "WordPiece" : "WordLevel";
            switch (type)
            {
                case "WordPiece":
                    return new WordPieceModel(VocabTable(o, "WordPiece model"), OptStr(o, "unk_token") ?? "[UNK]", OptStr(o, "continuing_subword_prefix") ?? "##",
                        o["max_input_chars_per_word"] is JsonValue mv && mv.TryGetValue(out int m) ? m : 100);
                case "WordLevel":
                    return new WordLevelModel(VocabTable(o, "WordLevel model"), OptStr(o, "unk_token") ?? "<unk>");
                case "BPE":
                    {
                        var table = VocabTable(o, "BPE model");
                        if (o["merges"] is not JsonArray ma) throw Fail("BPE model", "\"merges\" must be a list");
                        var merges = new List<(string, string)>(ma.Count);
                        for (int i = 0; i < ma.Count; i++)
                        {
                            if (AutoTokenizer.Str(ma[i]) is { } line)
                            {
                                int sp = line.IndexOf(' ');
                                if (sp <= 0) throw Fail("BPE model", $"merge {i + 1} \"{line}\" is not two tokens separated by a space");
                                merges.Add((line[..sp], line[(sp + 1)..]));
                            }
                            else if (ma[i] is JsonArray pair && pair.Count == 2 && AutoTokenizer.Str(pair[0]) is { } a && AutoTokenizer.Str(pair[1]) is { } b) merges.Add((a, b));
                            else throw Fail("BPE model", $"merge {i + 1} must be \"a b\" or [\"a\", \"b\"]");
                        }
                        return new BpeModel(table, merges, OptStr(o, "unk_token"), OptStr(o, "continuing_subword_prefix"), OptStr(o, "end_of_word_suffix"),
                            OptBool(o, "fuse_unk", false), OptBool(o, "byte_fallback", false), OptBool(o, "ignore_merges", false), $"{path}: BPE model");
                    }
                case "Unigram":
                    {
                        if (o["vocab"] is not JsonArray va) throw Fail("Unigram model", "\"vocab\" must be a list of [piece, score]");
                        var pieces = new string[va.Count];
                        var scores = new double[va.Count];
                        for (int i = 0; i < va.Count; i++)
                        {
                            if (va[i] is not JsonArray e || e.Count != 2 || AutoTokenizer.Str(e[0]) is not { } piece || e[1] is not JsonValue sv || sv.GetValueKind() != JsonValueKind.Number)
                                throw Fail("Unigram model", $"vocab entry {i} must be [piece, score]");
                            pieces[i] = piece;
                            scores[i] = sv.GetValue<double>();
                        }
                        int unk = o["unk_id"] is JsonValue uv && uv.TryGetValue(out int u) ? u : -1;
                        if (unk < 0 || unk >= pieces.Length) throw Fail("Unigram model", "\"unk_id\" must be the index of a vocab entry");
                        return new UnigramModel(pieces, scores, unk, OptBool(o, "byte_fallback", false), fuseUnk: true);
                    }
                default: throw Unknown("model", type);
            }
        }

        private string[] VocabTable(JsonObject o, string where)
        {
            if (o["vocab"] is not JsonObject v) throw Fail(where, "\"vocab\" must be an object of token → id");
            var d = new Dictionary<string, int>(v.Count);
            foreach (var (k, n) in v)
            {
                if (n is not JsonValue jv || !jv.TryGetValue(out int id) || id < 0) throw Fail(where, $"the id of \"{k}\" must be a non-negative integer");
                d[k] = id;
            }
            return TokenizerModel.Table(d, $"{path}: {where}");
        }

        public TemplatePostProcessor? PostProcessor(JsonObject o, TokenizerModel model, List<AddedToken> added)
        {
            string type = Type(o, "post_processor");
            switch (type)
            {
                case "BertProcessing": return TemplatePostProcessor.Bert(Pair(o, "cls", type), Pair(o, "sep", type));
                case "RobertaProcessing": return TemplatePostProcessor.Roberta(Pair(o, "cls", type), Pair(o, "sep", type));
                case "ByteLevel": return null;
                case "TemplateProcessing": return Template(o);
                case "Sequence":
                    {
                        TemplatePostProcessor? last = null;
                        foreach (var p in Objects(o, "processors", "Sequence post_processor")) last = PostProcessor(p, model, added) ?? last;
                        return last;
                    }
                default: throw Unknown("post_processor", type);
            }
        }

        private (string, int) Pair(JsonObject o, string key, string where)
        {
            if (o[key] is JsonArray a && a.Count == 2 && AutoTokenizer.Str(a[0]) is { } tok && a[1] is JsonValue v && v.TryGetValue(out int id)) return (tok, id);
            throw Fail(where, $"\"{key}\" must be [token, id]");
        }

        private TemplatePostProcessor Template(JsonObject o)
        {
            const string where = "TemplateProcessing";
            var specials = new Dictionary<string, (int[], string[])>();
            if (o["special_tokens"] is JsonObject st)
            {
                foreach (var (key, n) in st)
                {
                    if (n is not JsonObject so || so["ids"] is not JsonArray ids || so["tokens"] is not JsonArray toks)
                        throw Fail(where, $"special token \"{key}\" must have \"ids\" and \"tokens\"");
                    specials[key] = (ids.Select(x => (int)x!).ToArray(), toks.Select(x => (string)x!).ToArray());
                }
            }
            List<TemplateItem> Items(string key)
            {
                var items = new List<TemplateItem>();
                foreach (var it in Objects(o, key, where))
                {
                    if (it["SpecialToken"] is JsonObject s)
                    {
                        string id = Str(s, "id", where);
                        if (!specials.ContainsKey(id)) throw Fail(where, $"template \"{key}\" names special token \"{id}\", which special_tokens does not define");
                        items.Add(new TemplateItem(id, 0, s["type_id"] is JsonValue tv && tv.TryGetValue(out int t) ? t : 0));
                    }
                    else if (it["Sequence"] is JsonObject q)
                    {
                        string id = Str(q, "id", where);
                        if (id is not ("A" or "B")) throw Fail(where, $"sequence id must be A or B, got \"{id}\"");
                        items.Add(new TemplateItem(null, id == "A" ? 0 : 1, q["type_id"] is JsonValue tv && tv.TryGetValue(out int t) ? t : 0));
                    }
                    else throw Fail(where, $"template \"{key}\" items must be SpecialToken or Sequence");
                }
                return items;
            }
            return new TemplatePostProcessor(Items("single"), Items("pair"), specials, "TemplateProcessing");
        }

        public Decoder Decoder(JsonObject o)
        {
            string type = Type(o, "decoder");
            switch (type)
            {
                case "WordPiece": return new WordPieceDecoder(OptStr(o, "prefix") ?? "##", OptBool(o, "cleanup", true));
                case "ByteLevel": return new ByteLevelDecoder();
                case "Metaspace":
                    {
                        string rep = OptStr(o, "replacement") ?? "\u2581";
                        string scheme = OptStr(o, "prepend_scheme") ?? (OptBool(o, "add_prefix_space", true) ? "always" : "never");
                        return new MetaspaceDecoder(rep.Length > 0 ? rep[0] : '\u2581', scheme);
                    }
                case "BPEDecoder": return new BpeDecoder(OptStr(o, "suffix") ?? "</w>");
                case "Replace":
                    {
                        if (o["pattern"] is not JsonObject p || AutoTokenizer.Str(p["String"]) is not { } s) throw Fail("Replace decoder", "only {\"String\": ...} patterns are supported");
                        return new ReplaceDecoder(s, Str(o, "content", "Replace decoder"));
                    }
                case "ByteFallback": return new ByteFallbackDecoder();
                case "Fuse": return new FuseDecoder();
                case "Strip":
                    {
                        string c = Str(o, "content", "Strip decoder");
                        return new StripDecoder(c.Length > 0 ? c[0] : ' ', o["start"] is JsonValue sv && sv.TryGetValue(out int s) ? s : 0, o["stop"] is JsonValue ev && ev.TryGetValue(out int e) ? e : 0);
                    }
                case "Sequence": return new SequenceDecoder(Objects(o, "decoders", "Sequence decoder").Select(Decoder).ToList());
                default: throw Unknown("decoder", type);
            }
        }
    }
}
