using Finetune.Weights;

namespace Finetune.Onnx;

/// <summary>ONNX TensorProto.DataType values this reader knows.</summary>
internal enum OnnxDataType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
}

/// <summary>Where a tensor's elements are: a slice of the model buffer, an external file, or decoded typed fields.</summary>
internal enum OnnxStorage
{
    Raw,
    External,
    Typed,
}

/// <summary>
/// One parsed TensorProto (a graph initializer or a Constant node's value). Raw and external data stay where they
/// are (an offset and a length, checked against the file); typed fields (float_data, int64_data...) are decoded
/// while parsing, which allocates no more than the field's bytes.
/// </summary>
internal sealed class OnnxTensor
{
    public required string Name { get; init; }
    public required OnnxDataType DataType { get; init; }
    public required int[] Shape { get; init; }
    public required OnnxStorage Storage { get; init; }

    /// <summary>Raw: offset in the model buffer; External: offset in <see cref="ExternalPath"/>.</summary>
    public long Offset { get; init; }
    public long ByteLength { get; init; }
    public string? ExternalPath { get; init; }

    /// <summary>Typed storage, by the field that held it.</summary>
    public float[]? Floats { get; init; }
    public long[]? Longs { get; init; }
    public double[]? Doubles { get; init; }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>The library's DType for this ONNX type, or null for types weights never use (strings, complex, unsigned wider than 8 bits).</summary>
    public DType? DType => DataType switch
    {
        OnnxDataType.Float => Weights.DType.F32,
        OnnxDataType.Float16 => Weights.DType.F16,
        OnnxDataType.BFloat16 => Weights.DType.BF16,
        OnnxDataType.Double => Weights.DType.F64,
        OnnxDataType.Int64 => Weights.DType.I64,
        OnnxDataType.Int32 => Weights.DType.I32,
        OnnxDataType.Int16 => Weights.DType.I16,
        OnnxDataType.Int8 => Weights.DType.I8,
        OnnxDataType.UInt8 => Weights.DType.U8,
        OnnxDataType.Bool => Weights.DType.Bool,
        _ => null,
    };

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
