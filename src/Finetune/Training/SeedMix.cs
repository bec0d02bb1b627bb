namespace Finetune.Training;

/// <summary>Derives one seed from two values (the run's seed and a micro-batch's place in the run).</summary>
public static class SeedMix
{
    /// <summary>SplitMix64-style mixing of two values into one seed.</summary>
    public static ulong Mix(ulong a, ulong b)
    {
        ulong z = a * 0x9E3779B97F4A7C15UL + b + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
