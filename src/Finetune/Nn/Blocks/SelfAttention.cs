using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// Query, key and value projections of one input and scaled dot-product attention over heads; returns the context
/// [batch, seq, hidden] before any output projection. The three projections run as one GEMM (attention then reads
/// the heads from its column blocks) whenever each <see cref="Linear"/> says it is a plain affine map
/// (<see cref="Linear.Affine"/>), the attention probabilities are not asked for and the run context does not ask for
/// <see cref="AttentionImplementation.Separate"/>; otherwise each projection runs
/// its own <see cref="Linear.Forward"/>, so an adapter or a quantised layer is never skipped. A family whose
/// attention module holds more (an output projection, a LayerNorm) derives from this class and registers the rest
/// after the three projections, under its checkpoint's names.
/// </summary>
public class SelfAttention : Module
{
    private readonly int _heads;
    private readonly float _dropout;

    /// <param name="names">The checkpoint names of the query, key and value projections.</param>
    public SelfAttention(int hidden, int heads, double dropout, float std, Generator rng, (string Query, string Key, string Value) names)
        : this(Projection(hidden, heads, std, rng), Projection(hidden, heads, std, rng), Projection(hidden, heads, std, rng), heads, dropout, names)
    {
    }

    /// <summary>Over projections made elsewhere (an adapter or a quantised layer in place of a plain <see cref="Linear"/>).</summary>
    public SelfAttention(Linear query, Linear key, Linear value, int heads, double dropout, (string Query, string Key, string Value) names)
    {
        int hidden = query.InFeatures;
        foreach (var p in new[] { query, key, value })
            if (p.InFeatures != hidden || p.OutFeatures != hidden)
                throw new ArgumentException($"SelfAttention: projections must be [{hidden}, {hidden}], got [{p.OutFeatures}, {p.InFeatures}].");
        _heads = heads;
        _dropout = (float)dropout;
        Query = Register(names.Query, query);
        Key = Register(names.Key, key);
        Value = Register(names.Value, value);
    }

    private static Linear Projection(int hidden, int heads, float std, Generator rng)
    {
        if (heads <= 0 || hidden % heads != 0)
            throw FinetuneException.Invalid($"The hidden size {hidden} is not a multiple of the number of attention heads {heads}.");
        return new Linear(hidden, hidden, true, std, rng);
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public int Heads => _heads;

    /// <summary>The context of <paramref name="h"/>; appends this layer's attention probabilities to <paramref name="attentions"/> when given.</summary>
    public Tensor Attend(Tensor h, IntTensor? mask, List<Tensor>? attentions = null)
    {
        if (attentions == null && RunContext.Current.Attention == AttentionImplementation.Fused && Query.Affine is { } q && Key.Affine is { } k && Value.Affine is { } v
            && (q.Bias == null) == (k.Bias == null) && (k.Bias == null) == (v.Bias == null))
        {
            Tensor qkv = F.LinearStacked(h, [q.Weight, k.Weight, v.Weight], q.Bias != null ? [q.Bias, k.Bias!, v.Bias!] : null);
            return F.MultiHeadAttentionPacked(qkv, _heads, mask, _dropout, Training);
        }
        // Separate projections: the probabilities are returned, or a projection is not a plain affine map.
        Tensor qs = Query.Forward(h);
        Tensor ks = Key.Forward(h);
        Tensor vs = Value.Forward(h);
        attentions?.Add(AttentionWeights.Compute(qs, ks, _heads, mask));
        return F.MultiHeadAttention(qs, ks, vs, _heads, mask, _dropout, Training);
    }
}
