using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Onnx;

/// <summary>
/// The tokenizer files transformers' BertTokenizerFast.save_pretrained writes for a WordPiece vocabulary:
/// vocab.txt, tokenizer_config.json, special_tokens_map.json and tokenizer.json (the `tokenizers` pipeline:
/// BertNormalizer, BertPreTokenizer, WordPiece, the [CLS] $A [SEP] template, the WordPiece decoder).
/// </summary>
internal static class BertTokenizerFiles
{
    private static readonly string[] Specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    public static void Write(string dir, byte[] vocabBytes, int modelMaxLength)
    {
        string text = Encoding.UTF8.GetString(vocabBytes);
        var tokens = text.Split('\n');
        int count = tokens.Length - (tokens[^1].Length == 0 ? 1 : 0);
        var vocab = new List<string>(count);
        for (int i = 0; i < count; i++) vocab.Add(tokens[i].TrimEnd('\r'));
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < vocab.Count; i++) ids.TryAdd(vocab[i], i);
        foreach (string s in Specials)
            if (!ids.ContainsKey(s)) throw FinetuneException.Invalid($"The vocabulary has no '{s}' token, which a BERT tokenizer needs.");
        bool lower = IsUncased(vocab);
        var options = new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        AtomicFile.WriteAllBytes(Path.Combine(dir, "vocab.txt"), vocabBytes);
        var config = new JsonObject
        {
            ["clean_up_tokenization_spaces"] = true,
            ["cls_token"] = "[CLS]",
            ["do_basic_tokenize"] = true,
            ["do_lower_case"] = lower,
            ["mask_token"] = "[MASK]",
            ["model_max_length"] = modelMaxLength,
            ["never_split"] = null,
            ["pad_token"] = "[PAD]",
            ["sep_token"] = "[SEP]",
            ["strip_accents"] = null,
            ["tokenize_chinese_chars"] = true,
            ["tokenizer_class"] = "BertTokenizer",
            ["unk_token"] = "[UNK]",
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString(options) + "\n");
        var map = new JsonObject { ["cls_token"] = "[CLS]", ["mask_token"] = "[MASK]", ["pad_token"] = "[PAD]", ["sep_token"] = "[SEP]", ["unk_token"] = "[UNK]" };
        AtomicFile.WriteAllText(Path.Combine(dir, "special_tokens_map.json"), map.ToJsonString(options) + "\n");
        AtomicFile.Write(Path.Combine(dir, "tokenizer.json"), s => WriteTokenizerJson(s, vocab, ids, lower));
    }

    /// <summary>An uncased vocabulary holds no upper-case letter outside its bracketed special tokens.</summary>
    internal static bool IsUncased(List<string> vocab)
    {
        foreach (string t in vocab)
        {
            if (t.StartsWith('[') && t.EndsWith(']')) continue;
            foreach (char c in t)
                if (char.IsUpper(c)) return false;
        }
        return true;
    }

    private static void WriteTokenizerJson(Stream stream, List<string> vocab, Dictionary<string, int> ids, bool lower)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (string s in Specials.OrderBy(s => ids[s]))
        {
            w.WriteStartObject();
            w.WriteNumber("id", ids[s]);
            w.WriteString("content", s);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("normalizer");
        w.WriteString("type", "BertNormalizer");
        w.WriteBoolean("clean_text", true);
        w.WriteBoolean("handle_chinese_chars", true);
        w.WriteNull("strip_accents");
        w.WriteBoolean("lowercase", lower);
        w.WriteEndObject();
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "BertPreTokenizer");
        w.WriteEndObject();
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        Piece(w, "SpecialToken", "[CLS]", 0);
        Piece(w, "Sequence", "A", 0);
        Piece(w, "SpecialToken", "[SEP]", 0);
        w.WriteEndArray();
        w.WriteStartArray("pair");
        Piece(w, "SpecialToken", "[CLS]", 0);
        Piece(w, "Sequence", "A", 0);
        Piece(w, "SpecialToken", "[SEP]", 0);
        Piece(w, "Sequence", "B", 1);
        Piece(w, "SpecialToken", "[SEP]", 1);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        foreach (string s in new[] { "[CLS]", "[SEP]" })
        {
            w.WriteStartObject(s);
            w.WriteString("id", s);
            w.WriteStartArray("ids");
            w.WriteNumberValue(ids[s]);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(s);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject("decoder");
        w.WriteString("type", "WordPiece");
        w.WriteString("prefix", "##");
        w.WriteBoolean("cleanup", true);
        w.WriteEndObject();
        w.WriteStartObject("model");
        w.WriteString("type", "WordPiece");
        w.WriteString("unk_token", "[UNK]");
        w.WriteString("continuing_subword_prefix", "##");
        w.WriteNumber("max_input_chars_per_word", 100);
        w.WriteStartObject("vocab");
        // One id per token: the first line holding it (a JSON object cannot repeat a key).
        var written = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < vocab.Count; i++)
            if (ids[vocab[i]] == i && written.Add(vocab[i])) w.WriteNumber(vocab[i], i);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Piece(Utf8JsonWriter w, string kind, string id, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject(kind);
        w.WriteString("id", id);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
