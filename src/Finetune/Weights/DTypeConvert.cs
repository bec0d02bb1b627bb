using System.Buffers.Binary;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Finetune.Weights;

/// <summary>Converts raw little-endian element bytes to and from float32 / int64.</summary>
internal static class DTypeConvert
{
    /// <summary>Widens <paramref name="src"/> (little-endian elements of <paramref name="type"/>) into float32.</summary>
    public static void ToFloat(DType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst);
                break;
            case DType.BF16:
                Bf16ToFloat(MemoryMarshal.Cast<byte, ushort>(src), dst);
                break;
            case DType.F64:
                {
                    var d = MemoryMarshal.Cast<byte, double>(src);
                    for (int i = 0; i < d.Length; i++) dst[i] = (float)d[i];
                    break;
                }
            default:
                {
                    int size = type.Size();
                    for (int i = 0; i < dst.Length; i++) dst[i] = ReadInteger(type, src.Slice(i * size, size));
                    break;
                }
        }
    }

    /// <summary>bfloat16 is the top half of a float32: shift the bits up.</summary>
    private static void Bf16ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        Span<uint> bits = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<ushort>.Count;
            for (; i + w <= src.Length; i += w)
            {
                Vector.Widen(new Vector<ushort>(src.Slice(i, w)), out Vector<uint> lo, out Vector<uint> hi);
                (lo << 16).CopyTo(bits.Slice(i));
                (hi << 16).CopyTo(bits.Slice(i + w / 2));
            }
        }
        for (; i < src.Length; i++) bits[i] = (uint)src[i] << 16;
    }

    public static long ReadInteger(DType type, ReadOnlySpan<byte> b) => type switch
    {
        DType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b),
        DType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b),
        DType.I16 => BinaryPrimitives.ReadInt16LittleEndian(b),
        DType.I8 => (sbyte)b[0],
        DType.U8 => b[0],
        DType.Bool => b[0] != 0 ? 1 : 0,
        _ => throw new InvalidOperationException($"{type} is not an integer type"),
    };

    /// <summary>Narrows float32 into little-endian <paramref name="type"/> bytes (F32, F16, BF16).</summary>
    public static void FromFloat(DType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (type)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst));
                break;
            case DType.BF16:
                {
                    var outBits = MemoryMarshal.Cast<byte, ushort>(dst);
                    for (int i = 0; i < src.Length; i++) outBits[i] = FloatToBf16(src[i]);
                    break;
                }
            default:
                throw new FinetuneException(ErrorKind.Unsupported, $"Writing tensors as {type} is not supported (use F32, F16 or BF16).");
        }
    }

    /// <summary>Round to nearest even, as torch does; NaN stays a quiet NaN.</summary>
    public static ushort FloatToBf16(float f)
    {
        if (float.IsNaN(f)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(f);
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }
}
