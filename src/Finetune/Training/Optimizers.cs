using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Training;

/// <summary>A set of parameters sharing a learning rate and weight decay (torch's param_groups entry).</summary>
public sealed class ParamGroup
{
    public ParamGroup(IEnumerable<(string Name, Tensor Param)> parameters, double weightDecay)
    {
        Parameters = parameters.ToList();
        WeightDecay = weightDecay;
    }

    public IReadOnlyList<(string Name, Tensor Param)> Parameters { get; }
    public double WeightDecay { get; set; }
    public double Lr { get; set; }
}

/// <summary>
/// Base of the optimizers: parameter groups, per-parameter state tensors (saved in checkpoints by name) and the
/// step. Parameters whose gradient is null are skipped, as torch does.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(IReadOnlyList<ParamGroup> groups, double lr)
    {
        ParamGroups = groups;
        foreach (var g in groups) g.Lr = lr;
    }

    public IReadOnlyList<ParamGroup> ParamGroups { get; }

    /// <summary>Sets the learning rate of every group (the scheduler's value).</summary>
    public void SetLr(double lr)
    {
        foreach (var g in ParamGroups) g.Lr = lr;
    }

    public abstract void Step();

    public void ZeroGrad()
    {
        foreach (var g in ParamGroups)
            foreach (var (_, p) in g.Parameters) p.ZeroGrad();
    }

    /// <summary>State buffers by "kind.parameter_name" (e.g. exp_avg.bert.embeddings.word_embeddings.weight).</summary>
    public abstract IEnumerable<(string Key, float[] Data)> StateTensors();

    /// <summary>Per-parameter step counts (Adam's bias correction), by parameter name.</summary>
    public virtual IReadOnlyDictionary<string, long> StepCounts => new Dictionary<string, long>();

    /// <summary>Restores what <see cref="StateTensors"/> and <see cref="StepCounts"/> returned.</summary>
    public abstract void LoadState(IReadOnlyDictionary<string, float[]> tensors, IReadOnlyDictionary<string, long> steps);

    protected static void RunParallel(IReadOnlyList<(ParamGroup Group, string Name, Tensor Param)> work, Action<ParamGroup, string, Tensor> body)
    {
        // Each parameter is updated independently, so the result does not depend on the thread count.
        Parallel.For(0, work.Count, i => body(work[i].Group, work[i].Name, work[i].Param));
    }

    protected List<(ParamGroup Group, string Name, Tensor Param)> WithGrads()
    {
        var list = new List<(ParamGroup, string, Tensor)>();
        foreach (var g in ParamGroups)
            foreach (var (n, p) in g.Parameters)
                if (p.Grad != null) list.Add((g, n, p));
        return list;
    }
}

/// <summary>
/// torch.optim.AdamW (torch 1.13 single-tensor path) in float32: p *= 1 - lr*wd; m = b1*m + (1-b1)*g;
/// v = b2*v + (1-b2)*g*g; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). Scalars are formed in float64 and cast to
/// float32 as torch's kernels do; torch's vector kernels fuse the (1-b1)*g + m step into one FMA.
/// </summary>
public class AdamW : Optimizer
{
    private readonly Dictionary<string, (float[] M, float[] V)> state = new();
    private readonly Dictionary<string, long> steps = new();
    private readonly bool decoupled;

    public AdamW(IReadOnlyList<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : this(groups, lr, beta1, beta2, eps, decoupled: true) { }

    /// <summary>torch.optim.AdamW(model.parameters(), lr, weight_decay=0.01): one group holding every parameter.</summary>
    public AdamW(Module model, double lr = 1e-3, double weightDecay = 0.01, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : this(new[] { new ParamGroup(model.NamedParameters(), weightDecay) }, lr, beta1, beta2, eps, decoupled: true) { }

    protected AdamW(IReadOnlyList<ParamGroup> groups, double lr, double beta1, double beta2, double eps, bool decoupled) : base(groups, lr)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        this.decoupled = decoupled;
        foreach (var g in groups)
            foreach (var (n, p) in g.Parameters) state[n] = (new float[p.Length], new float[p.Length]);
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }

    public override IReadOnlyDictionary<string, long> StepCounts => steps;

    public override void Step()
    {
        var work = WithGrads();
        foreach (var (_, n, _) in work) steps[n] = steps.GetValueOrDefault(n) + 1;
        // Element-wise, so large tensors are split into chunks across threads without changing any result.
        const int chunk = 1 << 16;
        var items = new List<(ParamGroup G, string N, Tensor P, int Start, int Length)>();
        foreach (var (g, n, p) in work)
            for (int start = 0; start < p.Length; start += chunk) items.Add((g, n, p, start, Math.Min(chunk, p.Length - start)));
        // The engine's workers and thread count (Parallelism.Threads), so the optimizer shares the kernels' cores.
        // Each worker takes a contiguous run of chunks holding an equal share of the elements: a split by chunk
        // count would leave one worker the embedding matrix and the other the biases.
        long total = 0;
        var offsets = new long[items.Count + 1];
        for (int k = 0; k < items.Count; k++) offsets[k + 1] = total += items[k].Length;
        int parts = Math.Max(1, Math.Min(Parallelism.Threads, items.Count));
        Parallelism.Run(parts, part =>
        {
            long lo = total * part / parts, hi = total * (part + 1) / parts;
            for (int k = 0; k < items.Count; k++)
                if (offsets[k] >= lo && offsets[k] < hi) UpdateChunk(items[k]);
        });
    }

    private void UpdateChunk((ParamGroup G, string N, Tensor P, int Start, int Length) item)
    {
        var (g, n, p, start, len) = item;
        long step = steps[n];
        double bc1 = 1 - Math.Pow(Beta1, step);
        double bc2 = 1 - Math.Pow(Beta2, step);
        double stepSize = g.Lr / bc1;
        double bc2Sqrt = Math.Sqrt(bc2);
        var (m, v) = state[n];
        var ps = p.Span.Slice(start, len);
        var gs = p.Grad!.Span.Slice(start, len);
        var ms = m.AsSpan(start, len);
        var vs = v.AsSpan(start, len);
        if (decoupled) UpdateDecoupled(ps, gs, ms, vs, (float)(1 - g.Lr * g.WeightDecay), (float)Beta1, (float)(1 - Beta1), (float)Beta2, (float)(1 - Beta2), (float)bc2Sqrt, (float)Eps, (float)(-stepSize));
        else UpdateL2(ps, gs, ms, vs, (float)g.WeightDecay, (float)Beta1, (float)(1 - Beta1), (float)Beta2, (float)(1 - Beta2), (float)bc2Sqrt, (float)Eps, (float)(-stepSize));
    }

    internal static void UpdateDecoupled(Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, float decay, float b1, float oneMinusB1, float b2, float oneMinusB2, float bc2Sqrt, float eps, float negStep)
    {
        int i = 0;
        ref float rp = ref MemoryMarshal.GetReference(p);
        ref float rg = ref MemoryMarshal.GetReference(grad);
        ref float rm = ref MemoryMarshal.GetReference(m);
        ref float rv = ref MemoryMarshal.GetReference(v);
        // Lane-wise the same IEEE operations as the scalar loop below, so both give identical bits. The loop is
        // bound by memory traffic (four streams in, three out), so wider vectors gain nothing here.
        if (Vector256.IsHardwareAccelerated)
        {
            var vDecay = Vector256.Create(decay);
            var vB1 = Vector256.Create(b1);
            var vC1 = Vector256.Create(oneMinusB1);
            var vB2 = Vector256.Create(b2);
            var vC2 = Vector256.Create(oneMinusB2);
            var vBc2 = Vector256.Create(bc2Sqrt);
            var vEps = Vector256.Create(eps);
            var vStep = Vector256.Create(negStep);
            for (; i <= p.Length - 8; i += 8)
            {
                var g = Vector256.LoadUnsafe(ref rg, (nuint)i);
                var pi = Vector256.LoadUnsafe(ref rp, (nuint)i) * vDecay;
                var mi = Vector256.FusedMultiplyAdd(g, vC1, Vector256.LoadUnsafe(ref rm, (nuint)i) * vB1);
                var vi = Vector256.LoadUnsafe(ref rv, (nuint)i) * vB2;
                vi += vC2 * g * g;
                var denom = Vector256.Sqrt(vi) / vBc2 + vEps;
                (pi + vStep * mi / denom).StoreUnsafe(ref rp, (nuint)i);
                mi.StoreUnsafe(ref rm, (nuint)i);
                vi.StoreUnsafe(ref rv, (nuint)i);
            }
        }
        for (; i < p.Length; i++)
        {
            float g = grad[i];
            float pi = p[i] * decay;
            float mi = MathF.FusedMultiplyAdd(g, oneMinusB1, m[i] * b1);
            float vi = v[i] * b2;
            vi += oneMinusB2 * g * g;
            float denom = MathF.Sqrt(vi) / bc2Sqrt + eps;
            p[i] = pi + negStep * mi / denom;
            m[i] = mi;
            v[i] = vi;
        }
    }

    // torch.optim.Adam: weight decay is added to the gradient (L2), not decoupled.
    internal static void UpdateL2(Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, float wd, float b1, float oneMinusB1, float b2, float oneMinusB2, float bc2Sqrt, float eps, float negStep)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float g = wd != 0 ? MathF.FusedMultiplyAdd(p[i], wd, grad[i]) : grad[i];
            float mi = MathF.FusedMultiplyAdd(g, oneMinusB1, m[i] * b1);
            float vi = v[i] * b2;
            vi += oneMinusB2 * g * g;
            float denom = MathF.Sqrt(vi) / bc2Sqrt + eps;
            p[i] = p[i] + negStep * mi / denom;
            m[i] = mi;
            v[i] = vi;
        }
    }

    public override IEnumerable<(string Key, float[] Data)> StateTensors()
    {
        foreach (var (n, (m, v)) in state)
        {
            if (!steps.ContainsKey(n)) continue;
            yield return ("exp_avg." + n, m);
            yield return ("exp_avg_sq." + n, v);
        }
    }

    public override void LoadState(IReadOnlyDictionary<string, float[]> tensors, IReadOnlyDictionary<string, long> stepCounts)
    {
        foreach (var (n, (m, v)) in state)
        {
            if (!stepCounts.TryGetValue(n, out long s)) continue;
            if (!tensors.TryGetValue("exp_avg." + n, out var sm) || !tensors.TryGetValue("exp_avg_sq." + n, out var sv) || sm.Length != m.Length || sv.Length != v.Length)
                throw FinetuneException.Invalid($"The optimizer state has no matching exp_avg/exp_avg_sq for parameter '{n}'.");
            sm.CopyTo(m, 0);
            sv.CopyTo(v, 0);
            steps[n] = s;
        }
    }
}

/// <summary>torch.optim.Adam (weight decay as L2 added to the gradient).</summary>
public sealed class Adam : AdamW
{
    public Adam(IReadOnlyList<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
        : base(groups, lr, beta1, beta2, eps, decoupled: false) { }
}

/// <summary>torch.optim.SGD with momentum (dampening 0, optional Nesterov) and L2 weight decay.</summary>
public sealed class Sgd : Optimizer
{
    private readonly Dictionary<string, float[]> buffers = new();

    public Sgd(IReadOnlyList<ParamGroup> groups, double lr, double momentum = 0, bool nesterov = false) : base(groups, lr)
    {
        Momentum = momentum;
        Nesterov = nesterov;
    }

    public double Momentum { get; }
    public bool Nesterov { get; }

    public override void Step()
    {
        var work = WithGrads();
        // torch starts a momentum buffer as a copy of the first gradient (no dampening on that step).
        var firstStep = new HashSet<string>();
        foreach (var (_, n, p) in work)
            if (Momentum != 0 && !buffers.ContainsKey(n))
            {
                buffers[n] = new float[p.Length];
                firstStep.Add(n);
            }
        RunParallel(work, (g, n, p) =>
        {
            Span<float> ps = p.Span;
            ReadOnlySpan<float> gs = p.Grad!.Span;
            float wd = (float)g.WeightDecay, mom = (float)Momentum, negLr = (float)-g.Lr;
            float[]? buf = Momentum != 0 ? buffers[n] : null;
            bool first = firstStep.Contains(n);
            for (int i = 0; i < ps.Length; i++)
            {
                float d = wd != 0 ? MathF.FusedMultiplyAdd(ps[i], wd, gs[i]) : gs[i];
                if (buf != null)
                {
                    buf[i] = first ? d : MathF.FusedMultiplyAdd(d, 1f, buf[i] * mom);
                    d = Nesterov ? MathF.FusedMultiplyAdd(buf[i], mom, d) : buf[i];
                }
                ps[i] = MathF.FusedMultiplyAdd(d, negLr, ps[i]);
            }
        });
    }

    public override IEnumerable<(string Key, float[] Data)> StateTensors()
    {
        foreach (var (n, b) in buffers) yield return ("momentum_buffer." + n, b);
    }

    public override void LoadState(IReadOnlyDictionary<string, float[]> tensors, IReadOnlyDictionary<string, long> steps)
    {
        foreach (var (k, v) in tensors)
            if (k.StartsWith("momentum_buffer.", StringComparison.Ordinal)) buffers[k["momentum_buffer.".Length..]] = (float[])v.Clone();
    }
}

/// <summary>Gradient clipping and the Trainer's parameter grouping.</summary>
public static class OptimizerUtils
{
    /// <summary>
    /// torch.nn.utils.clip_grad_norm_: the L2 norm over all gradients (each tensor's norm in float32 with 8-lane
    /// accumulation as torch's CPU kernel, then the norm of those norms); gradients are scaled by
    /// min(1, maxNorm / (total + 1e-6)). Returns the total norm before clipping.
    /// </summary>
    public static float ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var grads = new List<Tensor>();
        foreach (var p in parameters)
            if (p.Grad != null) grads.Add(p.Grad);
        if (grads.Count == 0) return 0f;
        // Each tensor's norm is one ordered reduction, so a tensor is never split; the largest go first, picked up
        // by whichever worker is free, so the embedding matrix does not leave the other workers idle at the end.
        var order = new int[grads.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (x, y) => grads[y].Length.CompareTo(grads[x].Length));
        var norms = new float[grads.Count];
        int next = -1;
        Parallelism.Run(Math.Min(Parallelism.Threads, grads.Count), _ =>
        {
            for (int k; (k = Interlocked.Increment(ref next)) < order.Length;) norms[order[k]] = Norm2(grads[order[k]].Span);
        });
        float total = Norm2(norms);
        float coef = 1f / (total + 1e-6f) * (float)maxNorm;
        if (coef < 1f) Scale(grads, coef);
        return total;
    }

    /// <summary>Multiplies every gradient by <paramref name="coef"/>, in chunks shared by the engine's workers.</summary>
    private static void Scale(List<Tensor> grads, float coef)
    {
        const int chunk = 1 << 16;
        var items = new List<(Tensor T, int Start)>();
        foreach (var g in grads)
            for (int start = 0; start < g.Length; start += chunk) items.Add((g, start));
        int next = -1;
        Parallelism.Run(Math.Min(Parallelism.Threads, items.Count), _ =>
        {
            for (int k; (k = Interlocked.Increment(ref next)) < items.Count;)
            {
                var (t, start) = items[k];
                var s = t.Span.Slice(start, Math.Min(chunk, t.Length - start));
                System.Numerics.Tensors.TensorPrimitives.Multiply(s, coef, s);
            }
        });
    }

    /// <summary>Float32 L2 norm as torch's vectorized CPU reduction: 8 FMA lanes, lanes summed in order, scalar tail.</summary>
    public static float Norm2(ReadOnlySpan<float> x)
    {
        int d = 0, body = x.Length - (x.Length % 8);
        float s;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            ref float r = ref MemoryMarshal.GetReference(x);
            for (; d < body; d += 8)
            {
                var v = Vector256.LoadUnsafe(ref r, (nuint)d);
                acc = Vector256.FusedMultiplyAdd(v, v, acc);
            }
            s = acc.GetElement(0);
            for (int j = 1; j < 8; j++) s += acc.GetElement(j);
        }
        else
        {
            Span<float> acc = stackalloc float[8];
            acc.Clear();
            for (; d < body; d += 8)
                for (int j = 0; j < 8; j++) acc[j] = MathF.FusedMultiplyAdd(x[d + j], x[d + j], acc[j]);
            s = acc[0];
            for (int j = 1; j < 8; j++) s += acc[j];
        }
        for (; d < x.Length; d++) s += x[d] * x[d];
        return MathF.Sqrt(s);
    }

    /// <summary>
    /// The Trainer's two groups over the parameters that require grad: weight decay for every parameter outside a LayerNorm module (matched by module
    /// type, as transformers' ALL_LAYERNORM_LAYERS) whose name does not contain "bias"; no decay for the rest.
    /// </summary>
    public static (ParamGroup Decay, ParamGroup NoDecay) TrainerParamGroups(Module model, double weightDecay)
    {
        var lnPrefixes = model.NamedModules().Where(m => m.Module is LayerNorm).Select(m => m.Name + ".").ToList();
        var decay = new List<(string, Tensor)>();
        var noDecay = new List<(string, Tensor)>();
        foreach (var (name, p) in model.NamedParameters())
        {
            // A frozen parameter (LoRA's base, --freeze-*) gets no group, hence no optimizer state, as transformers
            // builds its groups from the parameters that require grad.
            if (!p.RequiresGrad) continue;
            bool inLayerNorm = lnPrefixes.Any(pre => pre == "." || name.StartsWith(pre, StringComparison.Ordinal));
            if (!inLayerNorm && !name.Contains("bias", StringComparison.Ordinal)) decay.Add((name, p));
            else noDecay.Add((name, p));
        }
        return (new ParamGroup(decay, weightDecay), new ParamGroup(noDecay, 0.0));
    }

    /// <summary>Creates the optimizer TrainingArguments.Optim names, over the Trainer's parameter groups.</summary>
    public static Optimizer Create(TrainingArguments args, Module model)
    {
        var (decay, noDecay) = TrainerParamGroups(model, args.WeightDecay);
        var groups = new[] { decay, noDecay };
        return args.Optim.ToLowerInvariant() switch
        {
            "adam" => new Adam(groups, args.LearningRate, args.AdamBeta1, args.AdamBeta2, args.AdamEpsilon),
            "sgd" => new Sgd(groups, args.LearningRate, args.SgdMomentum),
            _ => new AdamW(groups, args.LearningRate, args.AdamBeta1, args.AdamBeta2, args.AdamEpsilon),
        };
    }
}
