using Finetune.Models;
using Finetune.Models.Albert;
using Finetune.Models.Bert;
using Finetune.Models.DistilBert;
using Finetune.Models.Electra;
using Finetune.Models.Roberta;
using Finetune.Nn;
using Finetune.Tensors;

namespace Finetune.Onnx;

/// <summary>
/// Writes a model as an ONNX graph (opset 17) that ONNX Runtime, Triton or onnxruntime-web run: int64
/// `input_ids`, `attention_mask` (and `token_type_ids` when the model has token-type embeddings), each
/// [batch, sequence] with both axes dynamic; output `logits` [batch, num_labels] for a classifier,
/// `last_hidden_state` [batch, sequence, hidden] (and `pooler_output` where it has a pooler) for a bare encoder. Dense layers are MatMul by the weight
/// stored [in, out] then Add of the named bias, as torch.onnx exports them; embeddings and LayerNorm parameters
/// keep their checkpoint names. Inference only: dropout is left out. The model's config.json travels in the
/// metadata_props under <see cref="ConfigMetadataKey"/>, so the ONNX import restores it exactly.
/// </summary>
public static class OnnxExport
{
    /// <summary>The metadata_props key holding the exported model's config.json text.</summary>
    public const string ConfigMetadataKey = "config.json";

    /// <summary>Exports <paramref name="model"/> (a <see cref="SequenceClassificationModel"/> or an <see cref="EncoderModel"/>) to <paramref name="path"/>, written atomically.</summary>
    public static void Export(PreTrainedModel model, string path)
    {
        var builder = new OnnxGraphBuilder(model.ArchitectureName);
        new Exporter(builder, model).Build();
        // The config as SavePretrained writes it, without changing the model's own config object.
        var config = model.Config.ToJson();
        config["architectures"] = new System.Text.Json.Nodes.JsonArray(model.ArchitectureName);
        builder.Metadata(ConfigMetadataKey, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, IndentSize = 2 }) + "\n");
        string version = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0";
        AtomicFile.Write(path, s => builder.Write(s, version));
    }

    private sealed class Exporter
    {
        private readonly OnnxGraphBuilder g;
        private readonly PreTrainedModel model;
        private readonly Dictionary<Tensor, string> names = new(ReferenceEqualityComparer.Instance);
        private string ids = "", mask = "", types = "", maskBias = "";

        public Exporter(OnnxGraphBuilder g, PreTrainedModel model)
        {
            this.g = g;
            this.model = model;
            foreach (var (name, t) in model.NamedParameters()) names[t] = name;
        }

        public void Build()
        {
            var encoder = model switch
            {
                SequenceClassificationModel s => s.Encoder,
                EncoderModel e => e,
                _ => throw new FinetuneException(ErrorKind.Unsupported, $"ONNX export takes an encoder or a sequence classifier, not {model.GetType().Name}."),
            };
            ids = g.Input("input_ids", "batch_size", "sequence_length");
            mask = g.Input("attention_mask", "batch_size", "sequence_length");
            if (HasTokenTypes(encoder)) types = g.Input("token_type_ids", "batch_size", "sequence_length");
            // (1 - mask) · float.MinValue, broadcast over heads and query positions: transformers' additive mask.
            string m = g.Node("Cast", [mask], null, ("to", 1));
            m = g.Node("Sub", [g.Float(1f), m]);
            m = g.Node("Mul", [m, g.Float(float.MinValue)]);
            maskBias = g.Node("Unsqueeze", [m, g.Int64s(false, 1, 2)]);
            string hidden = encoder switch
            {
                BertModel b => BertEncoder(b.Embeddings, null, b.Encoder, b.Config, Positions()),
                RobertaModel r => BertEncoder(r.Embeddings, null, r.Encoder, r.Config, RobertaPositions(r.Config.PaddingIdx)),
                ElectraModel e => BertEncoder(e.Embeddings, e.EmbeddingsProject, e.Encoder, e.Config, Positions()),
                DistilBertModel d => DistilBertEncoder(d),
                AlbertModel a => AlbertEncoder(a),
                _ => throw new FinetuneException(ErrorKind.Unsupported, $"ONNX export does not know the {encoder.GetType().Name} architecture."),
            };
            if (model is SequenceClassificationModel classifier)
            {
                string logits = Head(classifier, encoder, hidden);
                g.Output(logits, "logits", "batch_size", classifier.NumLabels);
            }
            else
            {
                g.Output(hidden, "last_hidden_state", "batch_size", "sequence_length", HiddenSize(encoder));
                // Encoders with a pooler also give its output, as transformers' exports of BertModel do.
                Linear? pooler = encoder switch { BertModel b => b.Pooler?.Dense, RobertaModel r => r.Pooler?.Dense, AlbertModel a => a.Pooler, _ => null };
                if (pooler != null) g.Output(Pooler(pooler, FirstToken(hidden)), "pooler_output", "batch_size", HiddenSize(encoder));
            }
        }

        private static bool HasTokenTypes(EncoderModel e) => e switch
        {
            BertModel b => b.Embeddings.TokenTypeEmbeddings != null,
            RobertaModel r => r.Embeddings.TokenTypeEmbeddings != null,
            ElectraModel el => el.Embeddings.TokenTypeEmbeddings != null,
            AlbertModel a => a.Embeddings.TokenTypeEmbeddings != null,
            _ => false,
        };

        private static int HiddenSize(EncoderModel e) => e.Config switch
        {
            DistilBertConfig d => d.Dim,
            BertConfig b => b.HiddenSize,
            _ => throw new FinetuneException(ErrorKind.Unsupported, "Unknown hidden size."),
        };

        private string Head(SequenceClassificationModel classifier, EncoderModel encoder, string hidden)
        {
            string first = FirstToken(hidden);
            switch (classifier)
            {
                case BertForSequenceClassification b:
                    return Linear(Pooler(b.Bert.Pooler!.Dense, first), b.Classifier);
                case AlbertForSequenceClassification a:
                    return Linear(Pooler(a.Albert.Pooler!, first), a.Classifier);
                case RobertaForSequenceClassification r:
                    return Linear(g.Node("Tanh", [Linear(first, r.Classifier.Dense)]), r.Classifier.OutProj);
                case ElectraForSequenceClassification e:
                    return Linear(Gelu(Linear(first, e.Classifier.Dense)), e.Classifier.OutProj);
                case DistilBertForSequenceClassification d:
                    return Linear(g.Node("Relu", [Linear(first, d.PreClassifier)]), d.Classifier);
                default:
                    throw new FinetuneException(ErrorKind.Unsupported, $"ONNX export does not know the head of {classifier.GetType().Name} on {encoder.GetType().Name}.");
            }
        }

        private string Pooler(Linear dense, string first) => g.Node("Tanh", [Linear(first, dense)]);

        /// <summary>h[:, 0] — [batch, hidden].</summary>
        private string FirstToken(string h) => g.Node("Gather", [h, g.Int64s(true, 0)], null, ("axis", 1));

        /// <summary>0 … T-1 as a [1, T] tensor (broadcast over the batch).</summary>
        private string Positions()
        {
            string shape = g.Node("Shape", [ids]);
            string t = g.Node("Gather", [shape, g.Int64s(true, 1)], null, ("axis", 0));
            string range = g.Node("Range", [g.Int64s(true, 0), t, g.Int64s(true, 1)]);
            return g.Node("Unsqueeze", [range, g.Int64s(false, 0)]);
        }

        /// <summary>RoBERTa's positions: cumsum(ids ≠ pad) · (ids ≠ pad) + pad.</summary>
        private string RobertaPositions(int paddingIdx)
        {
            string notPad = g.Node("Not", [g.Node("Equal", [ids, g.Int64s(true, paddingIdx)])]);
            string real = g.Node("Cast", [notPad], null, ("to", 7));
            string count = g.Node("CumSum", [real, g.Int64s(true, 1)]);
            return g.Node("Add", [g.Node("Mul", [count, real]), g.Int64s(true, paddingIdx)]);
        }

        private string Embeddings(BertEmbeddings e, string positions)
        {
            string x = g.Node("Gather", [Param(e.WordEmbeddings.Weight), ids]);
            if (e.TokenTypeEmbeddings != null)
                x = g.Node("Add", [x, g.Node("Gather", [Param(e.TokenTypeEmbeddings.Weight), types])]);
            x = g.Node("Add", [x, g.Node("Gather", [Param(e.PositionEmbeddings.Weight), positions])]);
            return LayerNorm(x, e.LayerNorm);
        }

        private string BertEncoder(BertEmbeddings embeddings, Linear? project, Models.Bert.BertEncoder encoder, BertConfig c, string positions)
        {
            string h = Embeddings(embeddings, positions);
            if (project != null) h = Linear(h, project);
            foreach (var layer in encoder.Layer)
            {
                var self = layer.Attention.Self;
                string ctx = Attention(h, self.Query, self.Key, self.Value, c.NumAttentionHeads, c.HiddenSize);
                string a = LayerNorm(g.Node("Add", [Linear(ctx, layer.Attention.Output.Dense), h]), layer.Attention.Output.LayerNorm);
                string i = Activation(Linear(a, layer.Intermediate.Dense), c.HiddenAct);
                h = LayerNorm(g.Node("Add", [Linear(i, layer.Output.Dense), a]), layer.Output.LayerNorm);
            }
            return h;
        }

        private string DistilBertEncoder(DistilBertModel d)
        {
            var c = d.Config;
            var e = d.Embeddings;
            string x = g.Node("Add", [g.Node("Gather", [Param(e.WordEmbeddings.Weight), ids]), g.Node("Gather", [Param(e.PositionEmbeddings.Weight), Positions()])]);
            string h = LayerNorm(x, e.LayerNorm);
            foreach (var block in d.Transformer.Layer)
            {
                var at = block.Attention;
                string ctx = Linear(Attention(h, at.QLin, at.KLin, at.VLin, c.NHeads, c.Dim), at.OutLin);
                string sa = LayerNorm(g.Node("Add", [ctx, h]), block.SaLayerNorm);
                string f = Linear(Activation(Linear(sa, block.Ffn.Lin1), c.Activation), block.Ffn.Lin2);
                h = LayerNorm(g.Node("Add", [f, sa]), block.OutputLayerNorm);
            }
            return h;
        }

        private string AlbertEncoder(AlbertModel a)
        {
            var c = a.Config;
            string h = Linear(Embeddings(a.Embeddings, Positions()), a.Encoder.EmbeddingHiddenMappingIn);
            double layersPerGroup = (double)c.NumHiddenLayers / c.NumHiddenGroups;
            for (int i = 0; i < c.NumHiddenLayers; i++)
            {
                // Shared groups: every application reads the same initializers.
                foreach (var layer in a.Encoder.AlbertLayerGroups[(int)(i / layersPerGroup)].AlbertLayers)
                {
                    var at = layer.Attention;
                    string ctx = Attention(h, at.Query, at.Key, at.Value, c.NumAttentionHeads, c.HiddenSize);
                    string att = LayerNorm(g.Node("Add", [h, Linear(ctx, at.Dense)]), at.LayerNorm);
                    string f = Linear(Activation(Linear(att, layer.Ffn), c.HiddenAct), layer.FfnOutput);
                    h = LayerNorm(g.Node("Add", [f, att]), layer.FullLayerLayerNorm);
                }
            }
            return h;
        }

        /// <summary>Scaled dot-product attention over heads, before the output projection: [B, T, hidden].</summary>
        private string Attention(string h, Linear query, Linear key, Linear value, int heads, int hidden)
        {
            int headDim = hidden / heads;
            string split = g.Int64s(false, 0, 0, heads, headDim);
            string q = g.Node("Transpose", [g.Node("Reshape", [Linear(h, query), split])], null, ("perm", new long[] { 0, 2, 1, 3 }));
            string k = g.Node("Transpose", [g.Node("Reshape", [Linear(h, key), split])], null, ("perm", new long[] { 0, 2, 3, 1 }));
            string v = g.Node("Transpose", [g.Node("Reshape", [Linear(h, value), split])], null, ("perm", new long[] { 0, 2, 1, 3 }));
            string scores = g.Node("Div", [g.Node("MatMul", [q, k]), g.Float(MathF.Sqrt(headDim))]);
            string probs = g.Node("Softmax", [g.Node("Add", [scores, maskBias])], null, ("axis", -1));
            string ctx = g.Node("Transpose", [g.Node("MatMul", [probs, v])], null, ("perm", new long[] { 0, 2, 1, 3 }));
            return g.Node("Reshape", [ctx, g.Int64s(false, 0, 0, hidden)]);
        }

        private string Activation(string x, string name) => name switch
        {
            "gelu" => Gelu(x),
            "gelu_new" or "gelu_fast" or "gelu_pytorch_tanh" => GeluTanh(x),
            "relu" => g.Node("Relu", [x]),
            "tanh" => g.Node("Tanh", [x]),
            _ => throw new FinetuneException(ErrorKind.Unsupported, $"ONNX export does not support the activation '{name}'."),
        };

        /// <summary>x · ½ · (1 + erf(x / √2)).</summary>
        private string Gelu(string x)
        {
            string erf = g.Node("Erf", [g.Node("Div", [x, g.Float(MathF.Sqrt(2f))])]);
            return g.Node("Mul", [g.Node("Mul", [x, g.Float(0.5f)]), g.Node("Add", [erf, g.Float(1f)])]);
        }

        /// <summary>½ · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).</summary>
        private string GeluTanh(string x)
        {
            string cube = g.Node("Mul", [g.Node("Mul", [x, x]), x]);
            string inner = g.Node("Mul", [g.Node("Add", [x, g.Node("Mul", [cube, g.Float(0.044715f)])]), g.Float(MathF.Sqrt(2f / MathF.PI))]);
            return g.Node("Mul", [g.Node("Mul", [x, g.Float(0.5f)]), g.Node("Add", [g.Node("Tanh", [inner]), g.Float(1f)])]);
        }

        private string LayerNorm(string x, Nn.LayerNorm ln) =>
            g.Node("LayerNormalization", [x, Param(ln.Weight), Param(ln.Bias)], null, ("axis", -1), ("epsilon", ln.Eps));

        /// <summary>x · Wᵀ + b, the weight stored transposed ([in, out]) as torch.onnx writes it.</summary>
        private string Linear(string x, Linear linear)
        {
            string wName = names[linear.Weight];
            var w = linear.Weight.Span;
            int outF = linear.OutFeatures, inF = linear.InFeatures;
            var transposed = new float[w.Length];
            for (int o = 0; o < outF; o++)
                for (int i = 0; i < inF; i++) transposed[i * outF + o] = w[o * inF + i];
            string y = g.Node("MatMul", [x, g.Initializer("onnx::MatMul::" + wName, transposed, inF, outF)]);
            return linear.Bias != null ? g.Node("Add", [y, Param(linear.Bias)]) : y;
        }

        private string Param(Tensor t) => g.Initializer(names[t], t.Span, t.Shape);
    }
}
