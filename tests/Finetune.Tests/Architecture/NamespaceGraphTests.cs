using Finetune.Models;

namespace Finetune.Tests.Architecture;

/// <summary>
/// The library's namespaces form layers: Tensors at the bottom, Nn (layers, blocks, the encoder runtime) on it,
/// Models on Nn; Hub (name resolution, the cache) under Tokenizers and Models; Onnx (import, export, packaged models)
/// above Models. Read from the compiled assembly, so a `using` that slips in anywhere shows.
/// </summary>
public class NamespaceGraphTests
{
    private static readonly NamespaceGraph Graph = NamespaceGraph.Of(typeof(ModelRegistry).Assembly, "Finetune");

    [Fact]
    public void NoNamespaceCycle()
    {
        foreach (var cycle in Graph.Cycles())
            Assert.Fail($"Namespace cycle {string.Join(" <-> ", cycle)}: {Describe(cycle)}");
    }

    [Fact]
    public void HubResolvesNamesBelowEverythingThatLoadsFromIt()
    {
        // Files, the cache and the Hub only: models, tokenizers and datasets resolve through it, never the reverse.
        Assert.Equal(["Finetune"], Graph.Edges["Finetune.Hub"].Order());
    }

    [Fact]
    public void TokenizersAndWeightsSitBelowModelsAndOnnxAboveThem()
    {
        Assert.Equal(["Finetune", "Finetune.Hub"], Graph.Edges["Finetune.Tokenizers"].Order());
        Assert.DoesNotContain("Finetune.Models", Graph.Edges["Finetune.Weights"]);
        Assert.DoesNotContain("Finetune.Hub", Graph.Edges["Finetune.Weights"]);
        Assert.True(Graph.Uses("Finetune.Onnx", "Finetune.Models"));     // the importer builds configs, the exporter reads models
        Assert.False(Graph.Uses("Finetune.Models", "Finetune.Onnx"));
    }

    [Fact]
    public void TensorsUseNothingAboveThem()
    {
        Assert.Equal(["Finetune"], Graph.Edges["Finetune.Tensors"].Order());
    }

    [Fact]
    public void NnUsesOnlyTensors()
    {
        Assert.Equal(["Finetune", "Finetune.Tensors"], Graph.Edges["Finetune.Nn"].Order());
    }

    [Fact]
    public void ModelFamiliesLeaveExecutionToTheEncoderStack()
    {
        // Stages, scopes, the gradient mode and buffer lifetimes are Nn.Runtime's and Tensors' business.
        string[] executionCalls =
        [
            "Finetune.Tensors.TensorScope.Stage", "Finetune.Tensors.TensorScope.Begin", "Finetune.Tensors.Tensor.get_IsGradEnabled",
            "Finetune.Tensors.Tensor.NoGrad", "Finetune.Tensors.Tensor.Dispose", "Finetune.Nn.F.ApplyInRowChunks", "System.GC.KeepAlive",
        ];
        Assert.Contains("Finetune.Nn.EncoderStack.Run", Graph.Calls["Finetune.Models"]);
        Assert.Empty(Graph.Calls["Finetune.Models"].Intersect(executionCalls));
    }

    [Fact]
    public void KernelsWorkOnSpansAndPointersOnly()
    {
        // Inside Tensors: Kernels (GEMM, attention, LayerNorm, ...) name no Tensor, scope, pool or autograd type.
        var inner = NamespaceGraph.Of(typeof(ModelRegistry).Assembly, "Finetune.Tensors");
        Assert.Contains("Finetune.Tensors.Kernels.Parallelism.For", inner.Calls["Finetune.Tensors.Kernels"]); // the reader sees Kernels
        Assert.False(inner.Uses("Finetune.Tensors.Kernels", "Finetune.Tensors"), inner.Witness.GetValueOrDefault("Finetune.Tensors.Kernels -> Finetune.Tensors"));
    }

    [Fact]
    public void OnlyTensorsHandlesBufferLifetimes()
    {
        // Ops declare what backward keeps through the recorder; keeping buffers reachable is Tensors' business.
        foreach (var (ns, calls) in Graph.Calls)
            if (ns != "Finetune.Tensors")
                Assert.False(calls.Contains("System.GC.KeepAlive"), $"{ns} calls GC.KeepAlive");
        Assert.Contains("System.GC.KeepAlive", Graph.Calls["Finetune.Tensors"]); // the reader sees the call where it is
    }

    [Fact]
    public void TheTrainerPassesItsDropoutStreamThroughTheRunContext()
    {
        // Reseeding the flow's default generator would leak the step's stream into whatever the flow runs next.
        Assert.DoesNotContain("Finetune.Tensors.Generator.ManualSeed", Graph.Calls["Finetune.Training"]);
        Assert.Contains("Finetune.Nn.RunContext.Enter", Graph.Calls["Finetune.Training"]);
    }

    [Fact]
    public void TheGraphSeesTheEdgesItMustSee()
    {
        // Guards the reader itself: a field type, a base type and a call inside a method body each count.
        Assert.True(Graph.Uses("Finetune.Models", "Finetune.Nn"));       // EncoderModel : PreTrainedModel : Module
        Assert.True(Graph.Uses("Finetune.Nn", "Finetune.Tensors"));      // Linear.Weight is a Tensor
        Assert.True(Graph.Uses("Finetune.Training", "Finetune.Metrics")); // Trainer calls ClassificationMetrics in a body
        Assert.False(Graph.Uses("Finetune.Tensors", "Finetune.Models"));
    }

    [Fact]
    public void TheLibraryWritesToNoConsole()
    {
        // Progress and messages go through IProgressReporter and FinetuneLog; Finetune.Terminal and the CLI render them.
        var library = typeof(ModelRegistry).Assembly;
        Assert.DoesNotContain(library.GetReferencedAssemblies(), a => a.Name!.StartsWith("Spectre.Console", StringComparison.Ordinal));
        Assert.Empty(ConsoleUses(Graph));
    }

    [Fact]
    public void TheConsoleCheckSeesTheConsoleWhereItIs()
    {
        // Guards the check: the terminal renderers draw with System.Console and Spectre.Console, and it sees both.
        var uses = ConsoleUses(NamespaceGraph.Of(typeof(Finetune.Terminal.ProgressBar).Assembly, "Finetune"));
        Assert.Contains(uses, u => u.Contains("uses System.Console", StringComparison.Ordinal));
        Assert.Contains(uses, u => u.Contains("uses Spectre.Console.", StringComparison.Ordinal));
    }

    private static List<string> ConsoleUses(NamespaceGraph graph) =>
        graph.ForeignTypes.SelectMany(kv => kv.Value.Where(t => t.StartsWith("System.Console", StringComparison.Ordinal) || t.StartsWith("Spectre.Console.", StringComparison.Ordinal))
            .Select(t => $"{kv.Key} uses {t} ({graph.Witness[$"{kv.Key} uses {t}"]})")).ToList();

    private static string Describe(List<string> cycle) =>
        string.Join("; ", Graph.Witness.Where(w => cycle.Any(a => w.Key.StartsWith(a + " ->", StringComparison.Ordinal))
            && cycle.Any(b => w.Key.EndsWith("-> " + b, StringComparison.Ordinal))).Select(w => $"{w.Key} ({w.Value})"));
}
