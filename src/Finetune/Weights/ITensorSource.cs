namespace Finetune.Weights;

/// <summary>
/// A read-only set of named tensors (one safetensors file, a sharded checkpoint, a pytorch_model.bin). Floating
/// data is widened to float32 on copy-out; integer data can be read as int64.
/// </summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The tensor names, in the order the file lists them.</summary>
    IReadOnlyList<string> Names { get; }

    bool Contains(string name);

    /// <summary>Dtype and shape of <paramref name="name"/>; throws NotFound when it is absent.</summary>
    TensorInfo Info(string name);

    /// <summary>Copies the tensor into <paramref name="destination"/> (exactly ElementCount long) as float32.</summary>
    void CopyTo(string name, Span<float> destination);

    /// <summary>Copies an integer (or bool) tensor out as int64.</summary>
    long[] ReadInt64(string name);
}

public static class TensorSourceExtensions
{
    /// <summary>A fresh float32 array holding the tensor.</summary>
    public static float[] ReadFloat(this ITensorSource source, string name)
    {
        var info = source.Info(name);
        var data = new float[checked((int)info.ElementCount)];
        source.CopyTo(name, data);
        return data;
    }

    /// <summary>An integer tensor as int32 (token ids, masks); values outside int32 are an error.</summary>
    public static int[] ReadInt32(this ITensorSource source, string name)
    {
        long[] wide = source.ReadInt64(name);
        var result = new int[wide.Length];
        for (int i = 0; i < wide.Length; i++)
        {
            if (wide[i] < int.MinValue || wide[i] > int.MaxValue)
                throw FinetuneException.Invalid($"Tensor '{name}' holds {wide[i]} at element {i}, which does not fit in 32 bits.");
            result[i] = (int)wide[i];
        }
        return result;
    }
}
