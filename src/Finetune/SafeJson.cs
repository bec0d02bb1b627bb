using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;

namespace Finetune;

/// <summary>
/// The one way the library parses JSON a user supplied (config.json, tokenizer files, safetensors headers, data
/// rows, tokenize input): nesting limited to <see cref="InputLimits.MaxJsonDepth"/>, every string and key checked
/// to be valid UTF-8 and valid UTF-16 after unescaping (a lone surrogate escape such as "\ud800" is refused with its
/// line and column, as Python would only fail later when encoding it), and a key repeated in one object resolved as
/// Python's json module resolves it: the last value wins, at the position of the first.
/// Syntax errors still surface as <see cref="JsonException"/>, so each reader keeps its own "not valid JSON" wording.
/// </summary>
public static class SafeJson
{
    /// <summary>Parses <paramref name="text"/> into a node tree (null for the JSON literal null).</summary>
    /// <param name="text">The JSON text.</param>
    /// <param name="source">The file (or "file line N") named in error messages.</param>
    /// <param name="allowTrailingCommas">Accept a comma before a closing bracket (tokenizer files written by hand do).</param>
    /// <param name="firstLine">The file line the text starts on (for one line of a JSON Lines file).</param>
    public static JsonNode? ParseNode(string text, string source, bool allowTrailingCommas = false, int firstLine = 1) =>
        ParseNode(Encoding.UTF8.GetBytes(text), source, allowTrailingCommas, firstLine);

    /// <inheritdoc cref="ParseNode(string, string, bool)"/>
    public static JsonNode? ParseNode(byte[] utf8, string source, bool allowTrailingCommas = false, int firstLine = 1)
    {
        utf8 = WithoutBom(utf8);
        bool duplicates = Validate(utf8, source, allowTrailingCommas, findDuplicates: true, firstLine);
        var nodeOptions = new JsonNodeOptions();
        var docOptions = DocumentOptions(allowTrailingCommas);
        if (!duplicates) return JsonNode.Parse(utf8, nodeOptions, docOptions);
        // JsonObject refuses a repeated key; rebuild the tree with Python's rule. The document stays alive for
        // the primitive values that wrap its elements (it is garbage-collected with them).
        var doc = JsonDocument.Parse(utf8, docOptions);
        return LastWins(doc.RootElement);
    }

    /// <summary>Parses into a <see cref="JsonDocument"/> (whose property lookup already lets the last duplicate win).</summary>
    public static JsonDocument ParseDocument(string text, string source, bool allowTrailingCommas = false, int firstLine = 1) =>
        ParseDocument(Encoding.UTF8.GetBytes(text), source, allowTrailingCommas, firstLine);

    /// <inheritdoc cref="ParseDocument(string, string, bool)"/>
    public static JsonDocument ParseDocument(byte[] utf8, string source, bool allowTrailingCommas = false, int firstLine = 1)
    {
        utf8 = WithoutBom(utf8);
        Validate(utf8, source, allowTrailingCommas, findDuplicates: false, firstLine);
        return JsonDocument.Parse(utf8, DocumentOptions(allowTrailingCommas));
    }

    /// <summary>Reads a whole JSON file as bytes, so invalid UTF-8 is refused rather than silently replaced.</summary>
    public static JsonNode? ParseFile(string path, bool allowTrailingCommas = false) =>
        ParseNode(File.ReadAllBytes(path), path, allowTrailingCommas);

    private static byte[] WithoutBom(byte[] utf8) =>
        utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF ? utf8[3..] : utf8;

    private static JsonDocumentOptions DocumentOptions(bool allowTrailingCommas) =>
        new() { AllowTrailingCommas = allowTrailingCommas, MaxDepth = InputLimits.MaxJsonDepth };

    /// <summary>
    /// One pass of the reader over the whole text: syntax and depth (JsonException), strings (FinetuneException).
    /// Returns whether some object repeats a key.
    /// </summary>
    private static bool Validate(byte[] utf8, string source, bool allowTrailingCommas, bool findDuplicates, int firstLine)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions
        {
            AllowTrailingCommas = allowTrailingCommas,
            MaxDepth = InputLimits.MaxJsonDepth,
            CommentHandling = JsonCommentHandling.Disallow,
        });
        var keys = findDuplicates ? new Stack<HashSet<string>?>() : null;
        bool duplicates = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    keys?.Push(null);
                    break;
                case JsonTokenType.EndObject:
                    keys?.Pop();
                    break;
                case JsonTokenType.PropertyName:
                    {
                        string key = CheckedString(ref reader, utf8, source, "key", firstLine);
                        if (keys != null && !duplicates)
                        {
                            var set = keys.Pop() ?? new HashSet<string>(StringComparer.Ordinal);
                            if (!set.Add(key)) duplicates = true;
                            keys.Push(set);
                        }
                        break;
                    }
                case JsonTokenType.String:
                    CheckedString(ref reader, utf8, source, "string", firstLine);
                    break;
            }
        }
        return duplicates;
    }

    private static string CheckedString(ref Utf8JsonReader reader, byte[] utf8, string source, string what, int firstLine)
    {
        if (!Utf8.IsValid(reader.ValueSpan))
            throw FinetuneException.Invalid($"{source}:{Where(utf8, reader.TokenStartIndex, firstLine)}: a {what} holds invalid UTF-8 bytes.");
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw FinetuneException.Invalid($"{source}:{Where(utf8, reader.TokenStartIndex, firstLine)}: a {what} holds a lone surrogate escape (\\ud800-\\udfff without its pair), which is not valid text.");
        }
    }

    /// <summary>"line:column" (1-based, column in bytes) of a byte offset; only computed for an error.</summary>
    private static string Where(byte[] utf8, long offset, int firstLine)
    {
        var before = utf8.AsSpan(0, (int)offset);
        int line = before.Count((byte)'\n') + firstLine;
        int lineStart = before.LastIndexOf((byte)'\n') + 1;
        return $"{line}:{offset - lineStart + 1}";
    }

    private static JsonNode? LastWins(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                {
                    var o = new JsonObject();
                    foreach (var p in e.EnumerateObject()) o[p.Name] = LastWins(p.Value);
                    return o;
                }
            case JsonValueKind.Array:
                {
                    var a = new JsonArray();
                    foreach (var x in e.EnumerateArray()) a.Add(LastWins(x));
                    return a;
                }
            case JsonValueKind.Null:
                return null;
            default:
                return JsonValue.Create(e);
        }
    }
}
