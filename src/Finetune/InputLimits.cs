using System.Globalization;

namespace Finetune;

/// <summary>
/// Bounds on what an input file may ask of the process, so a hostile or corrupt file ends in one clear error
/// (exit 3) instead of a hang or an allocation sized by its own say-so. Each limit is read once from its
/// environment variable (README "Input limits") and can be set from code; the error message names the limit.
/// </summary>
public static class InputLimits
{
    /// <summary>Nesting of JSON arrays/objects (FINETUNE_MAX_JSON_DEPTH, default 64 as System.Text.Json).</summary>
    public static int MaxJsonDepth { get; set; } = Read("FINETUNE_MAX_JSON_DEPTH", 64);

    /// <summary>Columns in one CSV/TSV row or keys in one JSON data row (FINETUNE_MAX_COLUMNS, default 16384).</summary>
    public static int MaxColumns { get; set; } = Read("FINETUNE_MAX_COLUMNS", 16384);

    /// <summary>Characters in one CSV/TSV field or JSON data value (FINETUNE_MAX_FIELD_CHARS, default 10,000,000).</summary>
    public static int MaxFieldChars { get; set; } = Read("FINETUNE_MAX_FIELD_CHARS", 10_000_000);

    /// <summary>Encoder layers a config may declare (FINETUNE_MAX_LAYERS, default 1000).</summary>
    public static int MaxHiddenLayers { get; set; } = Read("FINETUNE_MAX_LAYERS", 1000);

    /// <summary>
    /// Bytes the float32 parameters of a model built from a config may take (FINETUNE_MAX_MODEL_BYTES; default the
    /// memory the runtime may use on this machine or container).
    /// </summary>
    public static long MaxModelBytes { get; set; } = Read("FINETUNE_MAX_MODEL_BYTES", GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);

    private static int Read(string name, int fallback) => (int)Math.Min(int.MaxValue, Read(name, (long)fallback));

    private static long Read(string name, long fallback)
    {
        string? s = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(s)) return fallback;
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v > 0) return v;
        // A static initialiser must not throw (the type would be unusable); say so and keep the default.
        FinetuneLog.Write($"warning: {name}='{s}' is not a positive integer; using {fallback}.");
        return fallback;
    }
}
