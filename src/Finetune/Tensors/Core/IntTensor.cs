namespace Finetune.Tensors;

/// <summary>An int32 tensor for token ids, attention masks and class labels. Never part of the autograd graph.</summary>
public sealed class IntTensor
{
    private readonly int[] _data;

    private IntTensor(int[] data, int[] shape)
    {
        _data = data;
        Shape = shape;
    }

    public int[] Shape { get; }

    public int Rank => Shape.Length;

    public int Length => _data.Length;

    public Span<int> Span => _data;

    public int Size(int dim) => Shape[dim < 0 ? dim + Rank : dim];

    public static IntTensor Zeros(params int[] shape) => new(new int[Tensor.CheckedLength(shape)], (int[])shape.Clone());

    /// <summary>A tensor holding a copy of <paramref name="data"/>; the shape defaults to [data.Length].</summary>
    public static IntTensor FromArray(int[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (shape.Length == 0) shape = new[] { data.Length };
        if (Tensor.CheckedLength(shape) != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values do not fill shape {Tensor.ShapeString(shape)}.");
        return new IntTensor((int[])data.Clone(), (int[])shape.Clone());
    }

    /// <summary>The same data under another shape (shares the array).</summary>
    public IntTensor Reshape(params int[] shape)
    {
        if (Tensor.CheckedLength(shape) != Length)
            throw new ArgumentException($"Cannot view an int tensor of shape {Tensor.ShapeString(Shape)} as {Tensor.ShapeString(shape)}.");
        return new IntTensor(_data, (int[])shape.Clone());
    }

    public int[] ToArray() => (int[])_data.Clone();

    public override string ToString() => $"IntTensor{Tensor.ShapeString(Shape)}";
}
