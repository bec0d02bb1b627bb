using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Tokenizers;

/// <summary>Settings from tokenizer_config.json / special_tokens_map.json.</summary>
internal sealed class TokenizerSettings
{
    public string? TokenizerClass { get; set; }
    public int ModelMaxLength { get; set; } = int.MaxValue;
    public PaddingSide PaddingSide { get; set; } = PaddingSide.Right;
    public bool DoLowerCase { get; set; } = true;
    public bool? StripAccents { get; set; }
    public bool TokenizeChineseChars { get; set; } = true;
    public bool AddPrefixSpace { get; set; }
    public bool RemoveSpace { get; set; } = true;
    public bool KeepAccents { get; set; }
    /// <summary>transformers' clean_up_tokenization_spaces, applied to decoded text (absent: true, as in transformers 4.35).</summary>
    public bool CleanUpTokenizationSpaces { get; set; } = true;
    public string? PadToken { get; set; }
    public string? UnkToken { get; set; }
    public string? ClsToken { get; set; }
    public string? SepToken { get; set; }
    public string? MaskToken { get; set; }
    public string? BosToken { get; set; }
    public string? EosToken { get; set; }
    /// <summary>Added tokens declared by tokenizer_config.json (added_tokens_decoder), by content.</summary>
    public Dictionary<string, AddedToken> Declared { get; } = new();
    public JsonObject Config { get; set; } = new();
}

/// <summary>
/// Loads a tokenizer from a folder the way transformers' AutoTokenizer does: tokenizer.json when present, else
/// the legacy files (vocab.txt → WordPiece, vocab.json + merges.txt → byte-level BPE, spiece.model → ALBERT-style
/// SentencePiece Unigram), with tokenizer_config.json and special_tokens_map.json for settings.
/// </summary>
public static class AutoTokenizer
{
    /// <summary>
    /// A local tokenizer folder, or a Hub model id (<c>"bert-base-uncased"</c>, <c>"org/name"</c>, at
    /// <paramref name="revision"/>) whose tokenizer files are fetched into the Hugging Face cache first.
    /// </summary>
    public static PreTrainedTokenizer FromPretrained(string dir, string? revision = null)
    {
        dir = Hub.NameOrPath.ResolveModel(dir, Hub.ModelFiles.Tokenizer, revision, what: "Tokenizer folder");
        try
        {
            return Load(dir);
        }
        catch (FinetuneException e) when (!e.Message.Contains(dir, StringComparison.Ordinal))
        {
            // A model's own check (an unknown token missing from the vocabulary) knows no file: name the folder.
            throw new FinetuneException(e.Kind, $"{dir}: {e.Message}", e);
        }
    }

    private static PreTrainedTokenizer Load(string dir)
    {
        var settings = ReadSettings(dir, out var files);
        string json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json))
        {
            files.Add(json);
            var pipeline = TokenizerJson.Load(json, settings);
            return new PreTrainedTokenizer(pipeline, settings, files, dir);
        }
        string vocabTxt = Path.Combine(dir, "vocab.txt"), vocabJson = Path.Combine(dir, "vocab.json"), merges = Path.Combine(dir, "merges.txt");
        string spiece = Path.Combine(dir, "spiece.model");
        if (File.Exists(spiece)) { files.Add(spiece); return new PreTrainedTokenizer(LegacyTokenizers.Albert(spiece, settings), settings, files, dir); }
        if (File.Exists(vocabJson) && File.Exists(merges))
        {
            files.Add(vocabJson); files.Add(merges);
            return new PreTrainedTokenizer(LegacyTokenizers.Roberta(vocabJson, merges, settings), settings, files, dir);
        }
        if (File.Exists(vocabTxt)) { files.Add(vocabTxt); return new PreTrainedTokenizer(LegacyTokenizers.Bert(vocabTxt, settings), settings, files, dir); }
        if (File.Exists(Path.Combine(dir, "sentencepiece.bpe.model")))
            throw new FinetuneException(ErrorKind.Unsupported, $"{dir}: sentencepiece.bpe.model without tokenizer.json is not supported; add the model's tokenizer.json");
        throw FinetuneException.Missing($"{dir} holds no tokenizer files (tokenizer.json, vocab.txt, vocab.json + merges.txt or spiece.model)");
    }

    internal static JsonNode? ReadJson(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new FinetuneException(ErrorKind.Io, $"cannot read {path}: {e.Message}", e); }
        try { return SafeJson.ParseNode(bytes, path, allowTrailingCommas: true); }
        catch (JsonException e) { throw FinetuneException.Invalid($"{path} is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}", e); }
    }

    private static TokenizerSettings ReadSettings(string dir, out List<string> files)
    {
        files = new List<string>();
        var s = new TokenizerSettings();
        string cfgPath = Path.Combine(dir, "tokenizer_config.json");
        if (File.Exists(cfgPath))
        {
            files.Add(cfgPath);
            if (ReadJson(cfgPath) is JsonObject cfg)
            {
                s.Config = cfg;
                s.TokenizerClass = cfg["tokenizer_class"]?.GetValueKind() == JsonValueKind.String ? (string?)cfg["tokenizer_class"] : null;
                if (cfg["model_max_length"] is JsonValue mml && mml.GetValueKind() == JsonValueKind.Number)
                {
                    double v = double.Parse(mml.ToJsonString(), CultureInfo.InvariantCulture);
                    s.ModelMaxLength = v >= int.MaxValue ? int.MaxValue : (int)v;
                }
                if ((string?)Str(cfg["padding_side"]) == "left") s.PaddingSide = PaddingSide.Left;
                s.DoLowerCase = Bool(cfg["do_lower_case"]) ?? s.DoLowerCase;
                s.StripAccents = Bool(cfg["strip_accents"]);
                s.TokenizeChineseChars = Bool(cfg["tokenize_chinese_chars"]) ?? true;
                s.AddPrefixSpace = Bool(cfg["add_prefix_space"]) ?? false;
                s.RemoveSpace = Bool(cfg["remove_space"]) ?? true;
                s.KeepAccents = Bool(cfg["keep_accents"]) ?? false;
                s.CleanUpTokenizationSpaces = Bool(cfg["clean_up_tokenization_spaces"]) ?? true;
                ApplySpecials(s, cfg);
                if (cfg["added_tokens_decoder"] is JsonObject atd)
                {
                    foreach (var (key, node) in atd)
                    {
                        if (node is not JsonObject o || Str(o["content"]) is not { } content || !int.TryParse(key, out int id)) continue;
                        s.Declared[content] = new AddedToken(content, id, Bool(o["special"]) ?? true, Bool(o["lstrip"]) ?? false,
                            Bool(o["rstrip"]) ?? false, Bool(o["single_word"]) ?? false, Bool(o["normalized"]) ?? false);
                    }
                }
            }
        }
        string mapPath = Path.Combine(dir, "special_tokens_map.json");
        if (File.Exists(mapPath))
        {
            files.Add(mapPath);
            if (ReadJson(mapPath) is JsonObject map) ApplySpecials(s, map);
        }
        return s;
    }

    private static void ApplySpecials(TokenizerSettings s, JsonObject o)
    {
        s.PadToken = Special(o["pad_token"]) ?? s.PadToken;
        s.UnkToken = Special(o["unk_token"]) ?? s.UnkToken;
        s.ClsToken = Special(o["cls_token"]) ?? s.ClsToken;
        s.SepToken = Special(o["sep_token"]) ?? s.SepToken;
        s.MaskToken = Special(o["mask_token"]) ?? s.MaskToken;
        s.BosToken = Special(o["bos_token"]) ?? s.BosToken;
        s.EosToken = Special(o["eos_token"]) ?? s.EosToken;
    }

    internal static string? Str(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    internal static bool? Bool(JsonNode? n) => n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : null;

    private static string? Special(JsonNode? n) => n is JsonObject o ? Str(o["content"]) : Str(n);
}
