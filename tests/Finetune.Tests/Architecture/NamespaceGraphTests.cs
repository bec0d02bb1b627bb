using Finetune.Models;

namespace Finetune.Tests.Architecture;

/// <summary>
/// The library's namespaces form layers: Tensors at the bottom, Nn (layers, blocks, the encoder runtime) on it,
/// Models on Nn. Read from the compiled assembly, so a `using` that slips in anywhere shows.
/// </summary>
public class NamespaceGraphTests
{
    private static readonly NamespaceGraph Graph = NamespaceGraph.Of(typeof(ModelRegistry).Assembly, "Finetune");

    /// <summary>
    /// The one cycle still known: Models resolves Hub ids and saves tokenizers, Hub converts packaged ONNX models
    /// through Weights, and Weights' ONNX import and export read the model classes. No other may appear.
    /// </summary>
    private static readonly string[] KnownCycle = ["Finetune.Hub", "Finetune.Models", "Finetune.Tokenizers", "Finetune.Weights"];

    [Fact]
    public void NoNamespaceCycleExceptTheKnownOne()
    {
        foreach (var cycle in Graph.Cycles())
            Assert.True(cycle.All(KnownCycle.Contains), $"Namespace cycle {string.Join(" <-> ", cycle)}: {Describe(cycle)}");
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

    private static string Describe(List<string> cycle) =>
        string.Join("; ", Graph.Witness.Where(w => cycle.Any(a => w.Key.StartsWith(a + " ->", StringComparison.Ordinal))
            && cycle.Any(b => w.Key.EndsWith("-> " + b, StringComparison.Ordinal))).Select(w => $"{w.Key} ({w.Value})"));
}
