namespace Finetune.Data.Parquet;

internal enum PhysicalType { Boolean = 0, Int32 = 1, Int64 = 2, Int96 = 3, Float = 4, Double = 5, ByteArray = 6, FixedLenByteArray = 7 }

internal enum Repetition { Required = 0, Optional = 1, Repeated = 2 }

/// <summary>One node of a Parquet schema (a SchemaElement with its children).</summary>
internal sealed class SchemaNode
{
    public required string Name { get; init; }
    public PhysicalType? Type { get; init; }
    public int TypeLength { get; init; }
    public Repetition Repetition { get; init; }
    public int? ConvertedType { get; init; }
    public int Scale { get; init; }
    public TStruct? LogicalType { get; init; }
    public List<SchemaNode> Children { get; } = new();
    public SchemaNode? Parent { get; set; }

    public bool IsLeaf => Type != null;

    public bool IsList => ConvertedType == 3 || LogicalType?.Has(3) == true;

    public bool IsString => ConvertedType is 0 or 4 or 19 || LogicalType?.Has(1) == true || LogicalType?.Has(4) == true || LogicalType?.Has(12) == true;

    public bool IsDecimal => ConvertedType == 5 || LogicalType?.Has(5) == true;

    public bool IsFloat16 => LogicalType?.Has(15) == true;

    public int DecimalScale => LogicalType?.Struct(5)?.Long(1) is long s ? (int)s : Scale;

    public bool IsUnsigned => ConvertedType is 11 or 12 or 13 or 14 || LogicalType?.Struct(10)?.Bool(2) == false;

    public int IntBits => ConvertedType switch { 11 or 15 => 8, 12 or 16 => 16, 13 or 17 => 32, 14 or 18 => 64, _ => LogicalType?.Struct(10)?.Long(1) is long b ? (int)b : 0 };

    public static SchemaNode Build(List<object> elements)
    {
        if (elements.Count == 0) throw new ParquetFormatException("the schema is empty");
        int pos = 0;
        var root = Read(elements, ref pos, 0);
        if (pos != elements.Count) throw new ParquetFormatException($"the schema has {elements.Count - pos} elements outside its tree");
        return root;
    }

    private static SchemaNode Read(List<object> elements, ref int pos, int depth)
    {
        if (depth > 32) throw new ParquetFormatException("the schema is nested too deeply");
        if (pos >= elements.Count || elements[pos] is not TStruct e) throw new ParquetFormatException("the schema ends early");
        pos++;
        long? type = e.Long(1);
        if (type is < 0 or > 7) throw new ParquetFormatException($"schema element '{e.String(4)}' has unknown physical type {type}");
        long rep = e.Long(3) ?? 0;
        if (rep is < 0 or > 2) throw new ParquetFormatException($"schema element '{e.String(4)}' has invalid repetition {rep}");
        long children = e.Long(5) ?? 0;
        if (children < 0 || children > elements.Count - pos) throw new ParquetFormatException($"schema element '{e.String(4)}' claims {children} children");
        var node = new SchemaNode
        {
            Name = e.String(4) ?? throw new ParquetFormatException("a schema element has no name"),
            Type = type is long t && children == 0 ? (PhysicalType)t : null,
            TypeLength = (int)(e.Long(2) ?? 0),
            Repetition = (Repetition)rep,
            ConvertedType = e.Long(6) is long c ? (int)c : null,
            Scale = (int)(e.Long(7) ?? 0),
            LogicalType = e.Struct(10),
        };
        if (type == null && children == 0 && depth > 0) throw new ParquetFormatException($"schema element '{node.Name}' has neither a type nor children");
        for (int i = 0; i < children; i++)
        {
            var child = Read(elements, ref pos, depth + 1);
            child.Parent = node;
            node.Children.Add(child);
        }
        return node;
    }

    /// <summary>Leaves in schema order with their max definition and repetition levels.</summary>
    public IEnumerable<(SchemaNode Leaf, string Path, int MaxDef, int MaxRep)> Leaves()
    {
        var stack = new List<(SchemaNode, string, int, int)>();
        foreach (var c in Children) Walk(c, "", 0, 0, stack);
        return stack;
    }

    private static void Walk(SchemaNode n, string prefix, int def, int rep, List<(SchemaNode, string, int, int)> acc)
    {
        if (n.Repetition != Repetition.Required) def++;
        if (n.Repetition == Repetition.Repeated) rep++;
        string path = prefix.Length == 0 ? n.Name : prefix + "." + n.Name;
        if (n.IsLeaf) acc.Add((n, path, def, rep));
        else foreach (var c in n.Children) Walk(c, path, def, rep, acc);
    }
}
