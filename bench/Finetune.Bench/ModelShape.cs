namespace Finetune.Bench;

/// <summary>
/// A BERT size the step and infer suites build (random weights: speed does not depend on them), and the model
/// FLOPs of one batch counted from its shapes, the way MFU is usually defined: the matrix products only
/// (embedding lookups, LayerNorm, softmax, GELU and AdamW are not counted, though they take time).
/// </summary>
internal sealed record ModelShape(string Name, int Layers, int Hidden, int Heads, int Inter)
{
    public const int Vocab = 30522, Labels = 2;

    public static readonly IReadOnlyDictionary<string, ModelShape> Known = new Dictionary<string, ModelShape>
    {
        ["tiny"] = new("bert-tiny", 2, 128, 2, 512),
        ["mini"] = new("bert-mini", 4, 256, 4, 1024),
        ["small"] = new("bert-small", 4, 512, 8, 2048),
        ["base"] = new("bert-base", 12, 768, 12, 3072),
        ["minilm"] = new("all-MiniLM-L6-v2", 6, 384, 12, 1536), // its config.json: 6 layers, 384 hidden, 12 heads
    };

    public static ModelShape Get(string key) => Known.TryGetValue(key, out var s)
        ? s
        : throw new ArgumentException($"unknown model '{key}'; known: {string.Join(", ", Known.Keys)}");

    /// <summary>
    /// Forward FLOPs (2 per multiply-add) of one batch: per token and layer the Q, K, V, output and two
    /// feed-forward products (2 × (4H² + 2HI)) plus attention's QKᵀ and AV (2 × 2TH), then pooler and classifier
    /// on the first token of each sequence.
    /// </summary>
    public double ForwardFlops(int batch, int seq)
    {
        double tokens = (double)batch * seq;
        double perLayer = tokens * 2.0 * (4.0 * Hidden * Hidden + 2.0 * Hidden * Inter) + tokens * 4.0 * seq * Hidden;
        return Layers * perLayer + batch * 2.0 * (Hidden * (double)Hidden + Hidden * Labels);
    }

    /// <summary>A training step: forward, and backward's two products per forward product (gradients of inputs and weights).</summary>
    public double StepFlops(int batch, int seq) => 3 * ForwardFlops(batch, seq);
}
