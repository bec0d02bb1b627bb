namespace Finetune.Bench;

/// <summary>
/// One benchmark suite (`gemm`, `step`, `infer`, `tokenize`...). Program discovers every implementation, so a new
/// suite is one new file. Each suite measures its peer (OpenBLAS, PyTorch) in the same run and prints the ratio.
/// </summary>
public interface IBenchSuite
{
    string Name { get; }
    string Description { get; }
    int Run(string[] args, BenchResults results);
}
