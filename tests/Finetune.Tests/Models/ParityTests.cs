using Finetune.Models;
using Finetune.Tensors;
using Finetune.Tests.Weights;
using Finetune.Weights;
using Xunit.Abstractions;

namespace Finetune.Tests.Models;

/// <summary>
/// Every family against transformers' own outputs (shared/golden/models): forward activations, loss and every
/// parameter gradient, from model.safetensors and from pytorch_model.bin.
/// </summary>
public class ParityTests(ITestOutputHelper log)
{
    public static TheoryData<string, string> CasesAndFormats()
    {
        var data = new TheoryData<string, string>();
        foreach (string c in GoldenCases.All)
        {
            data.Add(c, "safetensors");
            data.Add(c, "bin");
        }
        return data;
    }

    internal static (EncoderInputs Inputs, Labels Labels) ReadInputs(string dir)
    {
        using var st = SafeTensors.Read(Path.Combine(dir, "inputs.safetensors"));
        int[] shape = st.Info("input_ids").Shape;
        IntTensor Ids(string name) => IntTensor.FromArray(st.ReadInt32(name), shape);
        var inputs = new EncoderInputs(Ids("input_ids"), Ids("attention_mask"), st.Contains("token_type_ids") ? Ids("token_type_ids") : null);
        Labels labels = st.Info("labels").DType == DType.I64 ? st.ReadInt32("labels") : st.ReadFloat("labels");
        return (inputs, labels);
    }

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (string c in GoldenCases.All) data.Add(c);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(CasesAndFormats))]
    public void ForwardAndBackwardMatchTransformers(string name, string format) => Compare(name, format, outputAttentions: true);

    /// <summary>
    /// Without attention weights requested the layers take their fused path (one stacked q/k/v GEMM, packed
    /// attention, add and LayerNorm in one op), which the run above does not reach.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void TheFusedPathMatchesTransformers(string name) => Compare(name, "safetensors", outputAttentions: false);

    private void Compare(string name, string format, bool outputAttentions)
    {
        string dir = GoldenCases.Dir(name);
        string modelDir = format == "bin" ? Path.Combine(dir, "bin") : dir;
        var model = AutoModelForSequenceClassification.FromPretrained(modelDir, new FromPretrainedOptions(), out var report);
        Assert.Empty(report.NewlyInitialized);
        Assert.Empty(report.Unused);
        var (inputs, labels) = ReadInputs(dir);
        model.Eval();
        var output = model.Forward(inputs, labels, outputHiddenStates: true, outputAttentions);

        using var expected = SafeTensors.Read(Path.Combine(dir, "outputs.safetensors"));
        void Check(string key, Tensor? actual)
        {
            Assert.NotNull(actual);
            float[] e = expected.ReadFloat(key);
            Close.Elementwise($"{name}/{format} {key}", e, actual!.Span, 1e-5, 1e-4);
            log.WriteLine($"{key}: max |diff| {Close.MaxAbsDiff(e, actual.Span):g3}");
        }
        Check("logits", output.Logits);
        Check("embedding_output", output.EmbeddingOutput);
        int layers = expected.Names.Count(n => n.StartsWith("hidden_states.", StringComparison.Ordinal));
        Assert.Equal(layers, output.HiddenStates!.Count);
        for (int i = 0; i < layers; i++) Check($"hidden_states.{i}", output.HiddenStates[i]);
        if (expected.Contains("pooler_output")) Check("pooler_output", output.PooledOutput);
        if (outputAttentions)
        {
            Assert.Equal(layers - 1, output.Attentions!.Count);
            for (int i = 0; expected.Contains($"attentions.{i}"); i++) Check($"attentions.{i}", output.Attentions[i]);
        }
        else Assert.Null(output.Attentions);
        float loss = expected.ReadFloat("loss")[0];
        Assert.True(Math.Abs(output.Loss!.Item() - loss) <= 1e-6 + 1e-5 * Math.Abs(loss), $"loss {output.Loss.Item()} vs {loss}");
        log.WriteLine($"loss {output.Loss.Item()} vs {loss}");
        Assert.Equal(GoldenCases.CaseJson(dir).GetProperty("problem_type_at_runtime").GetString(), output.ProblemType);

        output.Loss.Backward();
        using var grads = SafeTensors.Read(Path.Combine(dir, "grads.safetensors"));
        var parameters = model.NamedParameters().ToList();
        Assert.Equal(grads.Names.Count, parameters.Count);
        double worstStrict = 0;
        foreach (var (pname, p) in parameters)
        {
            float[] e = grads.ReadFloat(pname);
            float[] a = p.Grad?.ToArray() ?? new float[p.Length];
            Close.Gradient($"{name}/{format} grad {pname}", e, a);
            for (int i = 0; i < e.Length; i++) worstStrict = Math.Max(worstStrict, Math.Abs(a[i] - e[i]) / (1e-6 + 1e-3 * Math.Abs(e[i])));
        }
        // Informational: the worst element against the stricter per-element bound (1 = at the bound).
        log.WriteLine($"gradients: worst |diff| / (1e-6 + 1e-3*|g|) = {worstStrict:g3}");
    }
}
