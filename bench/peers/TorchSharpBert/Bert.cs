using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TorchSharpBert;

/// <summary>
/// BertForSequenceClassification built from TorchSharp modules, the same architecture as bench/peers/torch_bert.py
/// and Finetune's model: embeddings + LayerNorm, post-LN encoder layers with exact (erf) GELU, tanh pooler over
/// the first token, linear classifier, dropout 0.1 everywhere Hugging Face puts it.
/// </summary>
internal sealed class Bert : Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Embedding word, pos, types;
    private readonly LayerNorm ln;
    private readonly Dropout drop;
    private readonly ModuleList<EncoderLayer> layers;
    private readonly Linear pool, cls;

    public Bert(int layerCount, int hidden, int heads, int inter, int vocab = 30522, int positions = 512, int labels = 2, double p = 0.1) : base("bert")
    {
        word = Embedding(vocab, hidden, padding_idx: 0);
        pos = Embedding(positions, hidden);
        types = Embedding(2, hidden);
        ln = LayerNorm(hidden, eps: 1e-12);
        drop = Dropout(p);
        layers = new ModuleList<EncoderLayer>();
        for (int l = 0; l < layerCount; l++) layers.Add(new EncoderLayer(hidden, heads, inter, p));
        pool = Linear(hidden, hidden);
        cls = Linear(hidden, labels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids, Tensor mask, Tensor typeIds)
    {
        long t = ids.shape[1];
        var x = drop.forward(ln.forward(word.forward(ids) + types.forward(typeIds) + pos.forward(arange(t))));
        var ext = (1.0 - mask.unsqueeze(1).unsqueeze(1).to_type(ScalarType.Float32)) * torch.finfo(ScalarType.Float32).min;
        foreach (var layer in layers) x = layer.forward(x, ext);
        return cls.forward(drop.forward(tanh(pool.forward(x.select(1, 0)))));
    }
}

/// <summary>One post-LN encoder layer: self-attention, add + LayerNorm, GELU feed-forward, add + LayerNorm.</summary>
internal sealed class EncoderLayer : Module<Tensor, Tensor, Tensor>
{
    private readonly int heads;
    private readonly Linear q, k, v, o, inner, output;
    private readonly LayerNorm ln1, ln2;
    private readonly Dropout drop;

    public EncoderLayer(int hidden, int heads, int inter, double p) : base("layer")
    {
        this.heads = heads;
        q = Linear(hidden, hidden);
        k = Linear(hidden, hidden);
        v = Linear(hidden, hidden);
        o = Linear(hidden, hidden);
        ln1 = LayerNorm(hidden, eps: 1e-12);
        inner = Linear(hidden, inter);
        output = Linear(inter, hidden);
        ln2 = LayerNorm(hidden, eps: 1e-12);
        drop = Dropout(p);
        RegisterComponents();
    }

    private Tensor Split(Tensor x) => x.view(x.shape[0], x.shape[1], heads, x.shape[2] / heads).transpose(1, 2);

    public override Tensor forward(Tensor x, Tensor ext)
    {
        Tensor qh = Split(q.forward(x)), kh = Split(k.forward(x)), vh = Split(v.forward(x));
        var scores = qh.matmul(kh.transpose(-1, -2)) / Math.Sqrt(qh.shape[3]) + ext;
        var attended = drop.forward(scores.softmax(-1)).matmul(vh).transpose(1, 2).reshape(x.shape);
        x = ln1.forward(drop.forward(o.forward(attended)) + x);
        return ln2.forward(drop.forward(output.forward(functional.gelu(inner.forward(x)))) + x);
    }
}
