using Finetune.Data;

namespace Finetune.Tests.Data;

/// <summary>Corrupted copies of real files must fail with a FinetuneException: no crash, no hang, no huge allocation.</summary>
public class ParquetFuzzTests
{
    [SkippableFact]
    public void CorruptedFilesFailCleanly()
    {
        string dir = SharedData.Require("parquet-testing/data");
        string[] sources = ["alltypes_plain.parquet", "byte_stream_split.zstd.parquet", "delta_length_byte_array.parquet", "datapage_v2.snappy.parquet", "delta_byte_array.parquet", "rle_boolean_encoding.parquet", "lz4_raw_compressed.parquet", "byte_stream_split_extended.gzip.parquet", "null_list.parquet"];
        using var tmp = new TempDir();
        var rng = new Random(1234);
        int failures = 0;
        foreach (var name in sources)
        {
            byte[] original = File.ReadAllBytes(Path.Combine(dir, name));
            for (int trial = 0; trial < 40; trial++)
            {
                byte[] bytes = (byte[])original.Clone();
                int flips = 1 + rng.Next(4);
                for (int k = 0; k < flips; k++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                if (trial % 10 == 9) bytes = bytes[..rng.Next(bytes.Length)]; // truncation
                string path = tmp.File($"{trial}-{name}");
                File.WriteAllBytes(path, bytes);
                try
                {
                    Dataset.FromFile(path, new LoadOptions { Format = "parquet" });
                }
                catch (FinetuneException)
                {
                    failures++;
                }
            }
        }
        Assert.True(failures > 0);
    }
}
