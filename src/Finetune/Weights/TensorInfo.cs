namespace Finetune.Weights;

/// <summary>Name, element type and shape of one stored tensor.</summary>
public sealed record TensorInfo(string Name, DType DType, int[] Shape)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
