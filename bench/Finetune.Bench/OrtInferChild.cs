using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace Finetune.Bench;

/// <summary>
/// The ONNX Runtime peer of `infer`, one configuration in its own process (`infer --child-ort MODEL.onnx SEQ ...`):
/// the graph loaded with every graph optimisation (ORT_ENABLE_ALL, which includes the CPU transformer fusions:
/// attention, GELU, LayerNorm, bias add), intra-op threads = ours, one inter-op thread, the same random full batch
/// every time. Prints the same JSON line as our child.
/// </summary>
internal static class OrtInferChild
{
    public static int Run(string path, int seq, ModelRunOptions o)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = o.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        using var session = new InferenceSession(path, options);
        var rng = new Finetune.Tensors.Generator(1);
        long[] shape = [o.Batch, seq];
        var names = new List<string>();
        var values = new List<OrtValue>();
        foreach (string name in session.InputNames)
        {
            var data = new long[o.Batch * seq];
            if (name == "input_ids") for (int k = 0; k < data.Length; k++) data[k] = 1000 + rng.NextInt(ModelShape.Vocab - 1000);
            else if (name == "attention_mask") Array.Fill(data, 1L);
            names.Add(name);
            values.Add(OrtValue.CreateTensorValueFromMemory(data, shape));
        }
        using var runOptions = new RunOptions();
        var times = o.Time(() =>
        {
            using var outputs = session.Run(runOptions, names, values, session.OutputNames);
        });
        foreach (var v in values) v.Dispose();
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(ModelRunOptions.Report(times, self.PeakWorkingSet64, "onnxruntime " + OrtEnv.Instance().GetVersionString()).ToJsonString());
        return 0;
    }
}
