using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Peft;

/// <summary>
/// A Linear with a low-rank update beside its frozen weight (peft's lora.Linear): y = x·Wᵀ + b +
/// scaling·(dropout(x)·Aᵀ)·Bᵀ with A [r, in] (child "lora_A") and B [out, r] (child "lora_B"). It shares the base
/// layer's weight and bias tensors, so the model keeps one copy of them.
/// <para>
/// It answers no <see cref="Linear.Affine"/>: a packed query/key/value GEMM over W + scaling·B·A would form the full
/// weight's gradient, the product LoRA exists to skip. Each adapted projection therefore runs its own frozen GEMM
/// (which, its weight not requiring grad, computes no weight gradient) and two thin ones.
/// </para>
/// </summary>
public sealed class LoraLinear : Linear
{
    public LoraLinear(Linear baseLayer, LoraConfig config, Generator? rng = null) : base(baseLayer.Weight, baseLayer.Bias)
    {
        config.Validate();
        rng ??= Generator.Default;
        R = config.R;
        Scaling = (float)config.Scaling;
        Dropout = Register("lora_dropout", new Dropout((float)config.LoraDropout));
        LoraA = Register("lora_A", new Linear(Tensor.Zeros(R, InFeatures), null));
        LoraB = Register("lora_B", new Linear(Tensor.Zeros(OutFeatures, R), null));
        // peft's reset_lora_parameters: torch's Linear init (Kaiming-uniform with a = √5, i.e. U(±1/√fan_in)) for A,
        // B zero so the adapted model starts as the base; "gaussian" draws A from N(0, 1/r²); false keeps both random.
        switch (config.InitLoraWeights)
        {
            case "gaussian":
                rng.FillNormal(LoraA.Weight.Span, 0f, 1f / R);
                break;
            case "false":
                KaimingUniform(LoraA.Weight, rng);
                KaimingUniform(LoraB.Weight, rng);
                break;
            default:
                KaimingUniform(LoraA.Weight, rng);
                break;
        }
    }

    public int R { get; }
    public float Scaling { get; }
    public Linear LoraA { get; }
    public Linear LoraB { get; }
    public Dropout Dropout { get; }

    /// <summary>torch.nn.init.kaiming_uniform_(w, a=√5): bound = gain·√(3/fan_in) with gain √(2/(1+a²)), i.e. 1/√fan_in.</summary>
    private static void KaimingUniform(Tensor w, Generator rng)
    {
        float bound = 1f / MathF.Sqrt(w.Shape[1]);
        rng.FillUniform(w.Span, -bound, bound);
    }

    public override Tensor Forward(Tensor x)
    {
        Tensor y = F.Linear(x, Weight, Bias);
        Tensor delta = F.Linear(F.Linear(Dropout.Forward(x), LoraA.Weight), LoraB.Weight);
        return F.Add(y, F.Scale(delta, Scaling));
    }

    /// <summary>W + scaling·B·A, summed in double: the weight of the plain Linear that computes what this layer does in eval mode.</summary>
    public Tensor MergedWeight()
    {
        int o = OutFeatures, i = InFeatures;
        var w = Weight.Span;
        var a = LoraA.Weight.Span;
        var b = LoraB.Weight.Span;
        var merged = new float[o * i];
        var row = new double[i];
        for (int p = 0; p < o; p++)
        {
            Array.Clear(row);
            for (int k = 0; k < R; k++)
            {
                double bk = b[p * R + k];
                var ak = a.Slice(k * i, i);
                for (int q = 0; q < i; q++) row[q] += bk * ak[q];
            }
            for (int q = 0; q < i; q++) merged[p * i + q] = (float)(w[p * i + q] + Scaling * row[q]);
        }
        return Tensor.FromArray(merged, o, i);
    }
}
