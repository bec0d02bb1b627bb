using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Models;

/// <summary>
/// A model's config.json. Every field of the file is kept (so saving writes back what it did not understand);
/// typed properties read a field or fall back to the family's transformers default, and setters write the field.
/// </summary>
public class PretrainedConfig
{
    private static readonly Dictionary<string, JsonNode?> NoDefaults = new();

    private readonly JsonObject _values;

    public PretrainedConfig(JsonObject? values = null)
    {
        _values = values == null ? new JsonObject() : (JsonObject)values.DeepClone();
        NormaliseLabels();
        if (ProblemType is { } p && !ProblemTypes.IsValid(p))
            throw FinetuneException.Invalid($"config.json has problem_type '{p}'; it must be regression, single_label_classification or multi_label_classification.");
    }

    /// <summary>The family's model_type ("bert", "roberta", ...); empty for the base class.</summary>
    public virtual string ModelType => "";

    /// <summary>Field defaults of this family, as transformers' config class sets them.</summary>
    protected virtual IReadOnlyDictionary<string, JsonNode?> Defaults => NoDefaults;

    /// <summary>Every field as read (plus what was set since), for fields no typed property covers.</summary>
    public JsonObject Fields => _values;

    public IReadOnlyList<string>? Architectures
    {
        get => _values["architectures"] is JsonArray a ? a.Select(n => n?.GetValue<string>() ?? "").ToList() : null;
        set => _values["architectures"] = value == null ? null : new JsonArray(value.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
    }

    public string? ProblemType
    {
        get => GetString("problem_type");
        set
        {
            if (value != null && !ProblemTypes.IsValid(value)) throw new ArgumentException($"Unknown problem_type '{value}'.");
            _values["problem_type"] = value;
        }
    }

    public int? PadTokenId => GetNullableInt("pad_token_id");

    public double InitializerRange => GetDouble("initializer_range");

    /// <summary>The torch_dtype recorded in the file ("float32", "float16", "bfloat16"), if any.</summary>
    public string? TorchDtype
    {
        get => GetString("torch_dtype");
        set => _values["torch_dtype"] = value;
    }

    /// <summary>Label names by id (from id2label; LABEL_i when absent).</summary>
    public IReadOnlyDictionary<int, string> Id2Label
    {
        get
        {
            var result = new SortedDictionary<int, string>();
            foreach (var (k, v) in (JsonObject)_values["id2label"]!) result[int.Parse(k, CultureInfo.InvariantCulture)] = v!.GetValue<string>();
            return result;
        }
        set
        {
            var id2label = new JsonObject();
            var label2id = new JsonObject();
            foreach (var (k, v) in value.OrderBy(kv => kv.Key))
            {
                id2label[k.ToString(CultureInfo.InvariantCulture)] = v;
                label2id[v] = k;
            }
            _values["id2label"] = id2label;
            _values["label2id"] = label2id;
        }
    }

    public IReadOnlyDictionary<string, int> Label2Id
    {
        get
        {
            var result = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (k, v) in (JsonObject)_values["label2id"]!) result[k] = v!.GetValue<int>();
            return result;
        }
    }

    /// <summary>Number of labels = size of id2label; setting a different count resets the labels to LABEL_i (as transformers does).</summary>
    public int NumLabels
    {
        get => ((JsonObject)_values["id2label"]!).Count;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), "num_labels must be at least 1.");
            if (value != NumLabels) Id2Label = Enumerable.Range(0, value).ToDictionary(i => i, i => $"LABEL_{i}");
        }
    }

    /// <summary>
    /// Checks every size and probability against its sane range and the model's float32 parameters against
    /// <see cref="InputLimits.MaxModelBytes"/> (in checked arithmetic), before anything is built from the config:
    /// an InvalidInput error naming the field otherwise.
    /// </summary>
    public void Validate()
    {
        CheckFields();
        long parameters;
        try
        {
            parameters = checked(ParameterCount());
        }
        catch (OverflowException)
        {
            throw FinetuneException.Invalid($"config fields {SizeFields} describe a model whose parameter count overflows 64 bits.");
        }
        if (parameters > InputLimits.MaxModelBytes / sizeof(float))
            throw FinetuneException.Invalid($"config fields {SizeFields} describe a model of {parameters:N0} parameters ({parameters * (double)sizeof(float) / (1 << 30):F1} GiB in float32), more than the {InputLimits.MaxModelBytes / (double)(1 << 30):F1} GiB allowed (FINETUNE_MAX_MODEL_BYTES sets it).");
    }

    /// <summary>
    /// Checks what only building a model needs (transformers reads such a config and raises when the model is
    /// built): called by the FromConfig factories before any layer exists.
    /// </summary>
    public virtual void CheckBuildable()
    {
    }

    /// <summary>An error about a field, naming the file the config came from.</summary>
    protected FinetuneException FieldError(string message) =>
        FinetuneException.Invalid(SourcePath == null ? message : $"Config '{SourcePath}': {message}");

    /// <summary>The fields whose product sizes the model, for messages.</summary>
    protected virtual string SizeFields => "";

    /// <summary>Checks each field's range (family classes add theirs).</summary>
    protected virtual void CheckFields()
    {
        if (_values["num_labels"] is not null) CheckInt("num_labels", 1, MaxLabels);
    }

    /// <summary>The model's parameter count, computed in checked arithmetic (0 for a config of no family).</summary>
    protected virtual long ParameterCount() => 0;

    /// <summary>More labels than this is a corrupt config (each label is a row of the classifier and a dictionary entry).</summary>
    private const int MaxLabels = 1_000_000;

    /// <summary>An integer field in [min, max], or an error naming it.</summary>
    protected int CheckInt(string key, int min, int max = int.MaxValue)
    {
        int v = GetInt(key);
        if (v < min || v > max)
            throw FinetuneException.Invalid($"config field '{key}' is {v}; it must be {(max == int.MaxValue ? $"at least {min}" : $"between {min} and {max}")}.");
        return v;
    }

    /// <summary>A dropout probability in [0, 1] (null allowed where the field is optional).</summary>
    protected void CheckProbability(string key)
    {
        if (!_values.ContainsKey(key) && !Defaults.ContainsKey(key)) return;
        if (Get(key) == null) return;
        double p = GetDouble(key);
        if (!(p >= 0 && p <= 1)) throw FinetuneException.Invalid($"config field '{key}' is {p.ToString(CultureInfo.InvariantCulture)}; a dropout probability must be between 0 and 1.");
    }

    /// <summary>One weight matrix must fit one array (the largest .NET allows), whatever the memory budget.</summary>
    protected static long Matrix(string what, long rows, long cols)
    {
        long n = checked(rows * cols);
        if (n > Array.MaxLength)
            throw FinetuneException.Invalid($"config fields {what} = {rows} × {cols} = {n:N0} elements, more than one tensor can hold ({Array.MaxLength:N0}).");
        return n;
    }

    /// <summary>The problem type the model uses for labels of the given kind: the configured one, else transformers' rule.</summary>
    public string ResolveProblemType(bool integerLabels) => ProblemType ?? ProblemTypes.Infer(NumLabels, integerLabels);

    // ---- typed access with family defaults ----

    protected JsonNode? Get(string key)
    {
        if (_values.TryGetPropertyValue(key, out var v)) return v;
        if (Defaults.TryGetValue(key, out var d)) return d;
        throw new InvalidOperationException($"No default for config field '{key}' in {GetType().Name}.");
    }

    protected int GetInt(string key)
    {
        JsonNode? n = Get(key);
        if (n is JsonValue v)
        {
            if (v.TryGetValue(out int i)) return i;
            if (v.TryGetValue(out long l) && l is >= int.MinValue and <= int.MaxValue) return (int)l;
            if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
        }
        throw WrongType(key, n, "an integer");
    }

    protected int? GetNullableInt(string key) => Get(key) == null ? null : GetInt(key);

    protected double GetDouble(string key)
    {
        JsonNode? n = Get(key);
        if (n is JsonValue v)
        {
            if (v.TryGetValue(out double d)) return d;
            if (v.TryGetValue(out int i)) return i;
            if (v.TryGetValue(out long l)) return l;
            if (v.TryGetValue(out float f)) return f;
        }
        throw WrongType(key, n, "a number");
    }

    protected double? GetNullableDouble(string key) => Get(key) == null ? null : GetDouble(key);

    protected bool GetBool(string key)
    {
        JsonNode? n = Get(key);
        return n is JsonValue v && v.TryGetValue(out bool b) ? b : throw WrongType(key, n, "true or false");
    }

    protected string? GetString(string key)
    {
        if (!_values.TryGetPropertyValue(key, out var n) && !Defaults.TryGetValue(key, out n)) return null;
        if (n == null) return null;
        return n is JsonValue v && v.TryGetValue(out string? s) ? s : throw WrongType(key, n, "a string");
    }

    protected void Set(string key, JsonNode? value) => _values[key] = value;

    private FinetuneException WrongType(string key, JsonNode? n, string expected) =>
        FinetuneException.Invalid($"{SourcePath ?? "config.json"} field '{key}' is {n?.ToJsonString() ?? "null"}, not {expected}.");

    /// <summary>The file this config was read from (named in errors about its fields found later).</summary>
    public string? SourcePath { get; internal set; }

    /// <summary>transformers: id2label wins; otherwise num_labels (default 2) gives LABEL_i; label2id is id2label reversed when absent.</summary>
    private void NormaliseLabels()
    {
        if (_values["id2label"] is JsonObject id2label && id2label.Count > 0)
        {
            var map = new Dictionary<int, string>();
            foreach (var (k, v) in id2label)
            {
                if (!int.TryParse(k, NumberStyles.Integer, CultureInfo.InvariantCulture, out int id) || v is not JsonValue s || !s.TryGetValue(out string? name))
                    throw FinetuneException.Invalid($"config.json id2label entry \"{k}\" is not an integer id with a string label.");
                map[id] = name!;
            }
            var label2id = _values["label2id"] as JsonObject;
            Id2Label = map;
            if (label2id != null) _values["label2id"] = label2id.DeepClone();
        }
        else
        {
            int n = _values["num_labels"] is JsonValue nv && nv.TryGetValue(out int x) ? x : 2;
            if (n < 1 || n > MaxLabels) throw FinetuneException.Invalid($"config field 'num_labels' is {n}; it must be between 1 and {MaxLabels}.");
            Id2Label = Enumerable.Range(0, n).ToDictionary(i => i, i => $"LABEL_{i}");
        }
        _values.Remove("num_labels");
    }

    // ---- files ----

    /// <summary>All fields (the original ones, then this family's defaults for any missing), sorted by key like transformers writes them.</summary>
    public JsonObject ToJson()
    {
        var merged = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (k, v) in Defaults) merged[k] = v?.DeepClone();
        foreach (var (k, v) in _values) merged[k] = v?.DeepClone();
        if (ModelType.Length > 0) merged["model_type"] = ModelType;
        var result = new JsonObject();
        foreach (var (k, v) in merged) result[k] = v;
        return result;
    }

    public string ToJsonString() => ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";

    /// <summary>Writes config.json into <paramref name="dir"/> (atomically).</summary>
    public void SavePretrained(string dir)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), ToJsonString());
    }

    /// <summary>Parses a config.json file into its JSON object (as a generic config; see AutoConfig for the family class).</summary>
    public static JsonObject ReadJson(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"Config file '{path}' does not exist.");
        try
        {
            return SafeJson.ParseFile(path) as JsonObject
                ?? throw FinetuneException.Invalid($"Config file '{path}' does not hold a JSON object.");
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"Config file '{path}' is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).", e);
        }
    }
}
