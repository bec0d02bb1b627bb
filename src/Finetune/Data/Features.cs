using System.Collections;

namespace Finetune.Data;

/// <summary>How a column's values are stored.</summary>
public enum DType
{
    String,
    Int32,
    Int64,
    Float32,
    Float64,
    Bool,
    /// <summary>A list of int32 per row (token ids, masks), like HF's Sequence(Value("int32")).</summary>
    Int32List,
}

/// <summary>The declared type of one column, as Hugging Face `datasets.features` describes it.</summary>
public abstract class FeatureType
{
    public abstract DType Storage { get; }

    /// <summary>The short description HF prints and `dataset info --json` emits for Value types.</summary>
    public abstract string TypeName { get; }

    public override string ToString() => TypeName;

    public static FeatureType Of(DType t) => t switch
    {
        DType.String => Value.String,
        DType.Int32 => Value.Int32,
        DType.Int64 => Value.Int64,
        DType.Float32 => Value.Float32,
        DType.Float64 => Value.Float64,
        DType.Bool => Value.Bool,
        _ => Sequence.Int32,
    };
}

/// <summary>A scalar value type: HF `Value("string")`, `Value("int64")`, ...</summary>
public sealed class Value : FeatureType
{
    private Value(DType storage, string dtype) { Storage = storage; Dtype = dtype; }

    public static readonly Value String = new(DType.String, "string");
    public static readonly Value Int32 = new(DType.Int32, "int32");
    public static readonly Value Int64 = new(DType.Int64, "int64");
    public static readonly Value Float32 = new(DType.Float32, "float32");
    public static readonly Value Float64 = new(DType.Float64, "float64");
    public static readonly Value Bool = new(DType.Bool, "bool");

    public override DType Storage { get; }

    /// <summary>HF's dtype name.</summary>
    public string Dtype { get; }

    public override string TypeName => Dtype;

    public static Value Parse(string dtype) => dtype switch
    {
        "string" or "large_string" => String,
        "int32" or "int16" or "int8" or "uint8" or "uint16" => Int32,
        "int64" or "uint32" or "uint64" => Int64,
        "float32" or "float" or "float16" => Float32,
        "float64" or "double" => Float64,
        "bool" => Bool,
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"Value type '{dtype}' is not supported (use string, int32, int64, float32, float64 or bool)."),
    };
}

/// <summary>A list of int32 per row: HF `Sequence(Value("int32"))`.</summary>
public sealed class Sequence : FeatureType
{
    public static readonly Sequence Int32 = new();

    public override DType Storage => DType.Int32List;

    public override string TypeName => "sequence<int32>";
}

/// <summary>
/// Integer class labels with names, stored as int64 like HF `ClassLabel`. -1 means "no label" (GLUE test splits).
/// </summary>
public sealed class ClassLabel : FeatureType
{
    private readonly Dictionary<string, int> _index;

    public ClassLabel(IEnumerable<string> names)
    {
        Names = names.ToArray();
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Names.Count; i++)
        {
            if (!_index.TryAdd(Names[i], i)) throw FinetuneException.Invalid($"ClassLabel names must be unique, but '{Names[i]}' appears twice.");
        }
    }

    public IReadOnlyList<string> Names { get; }

    public int NumClasses => Names.Count;

    public override DType Storage => DType.Int64;

    public override string TypeName => "ClassLabel(names=[" + string.Join(", ", Names.Select(n => "'" + n + "'")) + "])";

    public bool TryStr2Int(string name, out int id) => _index.TryGetValue(name, out id);

    /// <summary>The id of <paramref name="name"/>; an unknown name is an error that lists the known ones.</summary>
    public int Str2Int(string name) => _index.TryGetValue(name, out int id) ? id
        : throw FinetuneException.Invalid($"Unknown label '{name}'; the known labels are: {string.Join(", ", Names)}.");

    public string Int2Str(int id) => id >= 0 && id < Names.Count ? Names[id]
        : throw FinetuneException.Invalid($"Label id {id} is out of range for the {Names.Count} classes ({string.Join(", ", Names)}).");
}

/// <summary>The ordered column name → type map of a dataset (HF `Features`).</summary>
public sealed class Features : IEnumerable<KeyValuePair<string, FeatureType>>
{
    private readonly List<KeyValuePair<string, FeatureType>> _items = new();

    // Name → position, so a file with many columns is read in linear time.
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public Features() { }

    public Features(IEnumerable<KeyValuePair<string, FeatureType>> items)
    {
        foreach (var kv in items) Add(kv.Key, kv.Value);
    }

    public int Count => _items.Count;

    public IEnumerable<string> Names => _items.Select(kv => kv.Key);

    public FeatureType this[string name]
    {
        get => TryGet(name, out var f) ? f : throw FinetuneException.Missing($"Column '{name}' does not exist; the columns are: {string.Join(", ", Names)}.");
        set
        {
            int i = IndexOf(name);
            if (i < 0) Add(name, value);
            else _items[i] = new(name, value);
        }
    }

    public void Add(string name, FeatureType type)
    {
        if (IndexOf(name) >= 0) throw FinetuneException.Invalid($"Column '{name}' appears twice.");
        _index[name] = _items.Count;
        _items.Add(new(name, type));
    }

    public bool Contains(string name) => IndexOf(name) >= 0;

    public bool TryGet(string name, out FeatureType type)
    {
        int i = IndexOf(name);
        type = i >= 0 ? _items[i].Value : null!;
        return i >= 0;
    }

    public int IndexOf(string name)
    {
        return _index.TryGetValue(name, out int i) ? i : -1;
    }

    public Features Clone() => new(_items);

    public IEnumerator<KeyValuePair<string, FeatureType>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => "{" + string.Join(", ", _items.Select(kv => $"'{kv.Key}': {kv.Value}")) + "}";
}
