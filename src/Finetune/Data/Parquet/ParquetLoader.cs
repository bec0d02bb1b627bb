namespace Finetune.Data.Parquet;

/// <summary>Loads a Parquet file into a <see cref="Dataset"/>.</summary>
internal static class ParquetLoader
{
    public static Dataset Load(string path, LoadOptions o) =>
        throw new FinetuneException(ErrorKind.Unsupported, $"'{path}': Parquet reading is not available yet.");
}
