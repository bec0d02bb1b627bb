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
