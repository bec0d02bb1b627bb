using System.Globalization;
using System.Numerics;

namespace Finetune.Metrics;

/// <summary>
/// Python's float formatting where it differs from .NET's: "{:.2f}" rounds the exact binary value half-to-even
/// (0.125 → "0.12"), and str(float) of an integral value keeps ".0".
/// </summary>
public static class PyFormat
{
    /// <summary>Python's format(value, ".{digits}f").</summary>
    public static string Fixed(double value, int digits)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        bool negative = value < 0 || (value == 0 && double.IsNegative(value));
        long bits = BitConverter.DoubleToInt64Bits(Math.Abs(value));
        int exp = (int)((bits >> 52) & 0x7FF);
        long frac = bits & 0xFFFFFFFFFFFFFL;
        BigInteger mantissa = exp == 0 ? frac : frac | (1L << 52);
        int e2 = (exp == 0 ? 1 : exp) - 1075; // value = mantissa * 2^e2
        // scaled = value * 10^digits = num / den exactly.
        BigInteger num = mantissa * BigInteger.Pow(10, digits);
        BigInteger den = BigInteger.One;
        if (e2 >= 0) num <<= e2; else den <<= -e2;
        BigInteger q = BigInteger.DivRem(num, den, out BigInteger rem);
        BigInteger twice = rem * 2;
        if (twice > den || (twice == den && !q.IsEven)) q += 1;
        string s = q.ToString(CultureInfo.InvariantCulture);
        if (digits > 0)
        {
            s = s.PadLeft(digits + 1, '0');
            s = s[..^digits] + "." + s[^digits..];
        }
        return negative ? "-" + s : s;
    }

    /// <summary>Python's str() of a float for the values reports show (integral values keep ".0").</summary>
    public static string Repr(double value)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e16)
            return ((long)value).ToString(CultureInfo.InvariantCulture) + ".0";
        return value.ToString("R", CultureInfo.InvariantCulture);
    }
}
