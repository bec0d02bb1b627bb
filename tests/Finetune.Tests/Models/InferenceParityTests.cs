using Finetune.Models;
using Finetune.Tensors;
using Finetune.Tests.Weights;
using Finetune.Weights;

namespace Finetune.Tests.Models;

/// <summary>
/// Inference releases each layer's intermediates as soon as the layer's output exists (TensorScope.Stage under
/// NoGrad). The outputs that are kept (hidden states, attentions, logits) must still equal transformers' own.
/// </summary>
public class InferenceParityTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (string c in GoldenCases.All) data.Add(c);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ANoGradForwardInsideAScopeKeepsEveryOutputEqualToTransformers(string name)
    {
        string dir = GoldenCases.Dir(name);
        var model = AutoModelForSequenceClassification.FromPretrained(dir);
        model.Eval();
        var (inputs, _) = ParityTests.ReadInputs(dir);
        using var expected = SafeTensors.Read(Path.Combine(dir, "outputs.safetensors"));
        using var scope = TensorScope.Begin();
        using (Tensor.NoGrad())
        {
            var output = model.Forward(inputs, null, outputHiddenStates: true, outputAttentions: true);
            Close.Elementwise($"{name} logits", expected.ReadFloat("logits"), output.Logits!.Span, 1e-5, 1e-4);
            for (int i = 0; i < output.HiddenStates!.Count; i++)
                Close.Elementwise($"{name} hidden_states.{i}", expected.ReadFloat($"hidden_states.{i}"), output.HiddenStates[i].Span, 1e-5, 1e-4);
            for (int i = 0; expected.Contains($"attentions.{i}"); i++)
                Close.Elementwise($"{name} attentions.{i}", expected.ReadFloat($"attentions.{i}"), output.Attentions![i].Span, 1e-5, 1e-4);
        }
    }
}
