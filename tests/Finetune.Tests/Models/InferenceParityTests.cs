using System.Text.Json.Nodes;
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
    [SkippableTheory]
    [MemberData(nameof(ParityTests.Cases), MemberType = typeof(ParityTests))]
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

    [Theory]
    [InlineData("bert")]
    [InlineData("roberta")]
    [InlineData("distilbert")]
    [InlineData("albert")]
    public void AFeedForwardRunInChunksOfTokensGivesTheWholeBatchsOutputs(string modelType)
    {
        // An intermediate width of 16384 makes inference run the feed-forward 128 tokens at a time, so 3 × 100
        // tokens take three chunks, the last one short. The forward with gradients on runs it whole: the reference.
        var config = AutoConfig.Families[modelType](new JsonObject
        {
            ["vocab_size"] = 100,
            ["hidden_size"] = 32,
            ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4,
            ["intermediate_size"] = 16384,
            ["max_position_embeddings"] = 128,
            ["embedding_size"] = 16, // ALBERT's factorised embeddings
            ["dim"] = 32, // DistilBERT's names
            ["n_layers"] = 2,
            ["n_heads"] = 4,
            ["hidden_dim"] = 16384,
            ["pad_token_id"] = 1,
        });
        var model = AutoModelForSequenceClassification.FromConfig(config, new Generator(0));
        model.Eval();
        const int batch = 3, seq = 100;
        var rng = new Generator(1);
        var ids = new int[batch * seq];
        for (int i = 0; i < ids.Length; i++) ids[i] = 2 + rng.NextInt(98);
        var mask = new int[batch * seq];
        for (int i = 0; i < mask.Length; i++) mask[i] = i % seq < seq - 7 * (i / seq) ? 1 : 0; // rows padded by 0, 7, 14
        var inputs = new EncoderInputs(IntTensor.FromArray(ids, batch, seq), IntTensor.FromArray(mask, batch, seq), null);

        var whole = model.Forward(inputs, null, outputHiddenStates: true);
        using var scope = TensorScope.Begin();
        using (Tensor.NoGrad())
        {
            var chunked = model.Forward(inputs, null, outputHiddenStates: true);
            for (int i = 0; i < whole.HiddenStates!.Count; i++)
                Close.Elementwise($"hidden_states.{i}", whole.HiddenStates[i].ToArray(), chunked.HiddenStates![i].Span, 1e-6, 1e-5);
            Close.Elementwise("logits", whole.Logits!.ToArray(), chunked.Logits!.Span, 1e-6, 1e-5);
            // Without hidden states each layer's output is freed once the next layer has read it: same logits.
            var lean = model.Forward(inputs);
            Close.Elementwise("logits without hidden states", whole.Logits!.ToArray(), lean.Logits!.Span, 1e-6, 1e-5);
        }
    }
}
