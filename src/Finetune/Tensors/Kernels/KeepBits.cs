using System.Runtime.Intrinsics;

namespace Finetune.Tensors.Kernels;

/// <summary>Dropout keep masks as bits: element i is bit i % 64 of word i / 64.</summary>
internal static class KeepBits
{
    /// <summary>dst = factor ⊙ src over elements [start, start + n) of the mask at <paramref name="words"/> (src and dst may be the same).</summary>
    public static unsafe void Apply(ulong* words, float scale, long start, int n, float* src, float* dst)
    {
        // Rows of the attention mask start anywhere; the bit words are addressed from the enclosing 64-element word.
        long word = start >> 6;
        int shift = (int)(start & 63);
        Apply(new ReadOnlySpan<ulong>(words + word, (shift + n + 63) >> 6), scale, shift, n, new ReadOnlySpan<float>(src, n), new Span<float>(dst, n), false);
    }

    /// <summary>
    /// dst (=|+=) factor ⊙ src for elements [start, start + n) of the mask <paramref name="words"/>, factor being
    /// <paramref name="scale"/> where the element's keep bit is set and 0 where not: the products (and fused
    /// multiply-adds) round exactly as with a float mask of 0 or scale.
    /// </summary>
    public static void Apply(ReadOnlySpan<ulong> words, float scale, int start, int n, ReadOnlySpan<float> src, Span<float> dst, bool accumulate)
    {
        ref float s = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(src);
        ref float d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
        int j = 0;
        if (Vector512.IsHardwareAccelerated && (start & 15) == 0)
        {
            var lanes = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
            var vs = Vector512.Create(scale);
            for (; j <= n - 16; j += 16)
            {
                int e = start + j;
                var b = Vector512.Create((int)(words[e >> 6] >> (e & 63)) & 0xFFFF);
                var f = Vector512.ConditionalSelect(Vector512.Equals(b & lanes, lanes).AsSingle(), vs, Vector512<float>.Zero);
                var x = Vector512.LoadUnsafe(ref s, (nuint)j);
                var r = accumulate ? Vector512.FusedMultiplyAdd(f, x, Vector512.LoadUnsafe(ref d, (nuint)j)) : f * x;
                r.StoreUnsafe(ref d, (nuint)j);
            }
        }
        else if (Vector256.IsHardwareAccelerated && (start & 7) == 0)
        {
            var lanes = Vector256.Create(1, 2, 4, 8, 16, 32, 64, 128);
            var vs = Vector256.Create(scale);
            for (; j <= n - 8; j += 8)
            {
                int e = start + j;
                var b = Vector256.Create((int)(words[e >> 6] >> (e & 63)) & 0xFF);
                var f = Vector256.ConditionalSelect(Vector256.Equals(b & lanes, lanes).AsSingle(), vs, Vector256<float>.Zero);
                var x = Vector256.LoadUnsafe(ref s, (nuint)j);
                var r = accumulate ? Vector256.FusedMultiplyAdd(f, x, Vector256.LoadUnsafe(ref d, (nuint)j)) : f * x;
                r.StoreUnsafe(ref d, (nuint)j);
            }
        }
        for (; j < n; j++)
        {
            int e = start + j;
            float f = ((words[e >> 6] >> (e & 63)) & 1) != 0 ? scale : 0f;
            dst[j] = accumulate ? MathF.FusedMultiplyAdd(f, src[j], dst[j]) : f * src[j];
        }
    }
}
