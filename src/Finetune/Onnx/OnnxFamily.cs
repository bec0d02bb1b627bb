using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Albert;
using Finetune.Models.DistilBert;
using Finetune.Models.Electra;
using Finetune.Models.Roberta;

namespace Finetune.Onnx;

/// <summary>
/// What the ONNX import knows of one model family: its checkpoint prefix (transformers' base_model_prefix), how to
/// recognise its encoder among a graph's named weights, how to infer its config from them, and its parameter names
/// and shapes (encoder under bare names, classifier head under full names) to check a graph against a config.
/// </summary>
internal abstract class OnnxFamily
{
    /// <summary>Most specific first: BERT, whose names RoBERTa and ELECTRA share, is the fallback.</summary>
    public static readonly OnnxFamily[] All = [new OnnxAlbertFamily(), new OnnxDistilBertFamily(), new OnnxElectraFamily(), new OnnxRobertaFamily(), new OnnxBertFamily()];

    /// <summary>The family of a given config (XLM-RoBERTa and CamemBERT are RoBERTa's architecture and prefix).</summary>
    public static OnnxFamily For(PretrainedConfig config) => config switch
    {
        AlbertConfig => All[0],
        DistilBertConfig => All[1],
        ElectraConfig => All[2],
        RobertaConfig => All[3],
        Models.Bert.BertConfig => All[4],
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"ONNX import does not know model_type '{config.ModelType}'."),
    };

    /// <summary>transformers' base_model_prefix: task models put "{Prefix}." before the encoder's names.</summary>
    public abstract string Prefix { get; }

    /// <summary>The transformers class-name stem ("Bert" for BertModel and BertForSequenceClassification).</summary>
    public abstract string ClassStem { get; }

    /// <summary>The head weight whose rows are the labels ("classifier.weight", "classifier.out_proj.weight").</summary>
    public abstract string LabelsWeight { get; }

    /// <summary>The pooler's weight of a bare encoder, for families that have one.</summary>
    public virtual string? PoolerWeight => null;

    /// <summary>Do the bare encoder names (and the graph) look like this family?</summary>
    public abstract bool Recognises(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare);

    /// <summary>The config of the bare encoder weights <paramref name="bare"/>, from their shapes and the graph.</summary>
    public abstract PretrainedConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare);

    /// <summary>The encoder's parameters under bare names (no prefix), with their shapes.</summary>
    public abstract List<(string Name, int[] Shape)> Encoder(PretrainedConfig config, bool pooler);

    /// <summary>The sequence-classification head's parameters (full names), with their shapes.</summary>
    public abstract List<(string Name, int[] Shape)> Head(PretrainedConfig config);

    /// <summary>The shape of weight <paramref name="name"/>, which must exist with rank <paramref name="rank"/>.</summary>
    protected int[] ShapeOf(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> weights, string name, int rank)
    {
        if (!weights.TryGetValue(name, out var w))
            throw file.Error($"the graph has no initializer '{name}': not a {ClassStem} encoder export");
        int[] shape = w.Shape;
        if (shape.Length != rank || Array.IndexOf(shape, 0) >= 0) throw file.Error($"initializer '{w.Tensor.Name}' ({name}) has shape {w.Tensor.ShapeText}");
        return shape;
    }

    /// <summary>How many numbered modules "{before}{i}{after}" exist, counting from 0.</summary>
    protected static int Count(IReadOnlyDictionary<string, OnnxWeight> weights, string before, string after)
    {
        int n = 0;
        while (weights.ContainsKey($"{before}{n}{after}")) n++;
        return n;
    }

    /// <summary>Linear layer <paramref name="module"/>'s weight [out, in] and bias [out].</summary>
    protected static void Linear(List<(string, int[])> list, string module, int inFeatures, int outFeatures)
    {
        list.Add((module + ".weight", [outFeatures, inFeatures]));
        list.Add((module + ".bias", [outFeatures]));
    }

    /// <summary>LayerNorm <paramref name="module"/>'s weight and bias.</summary>
    protected static void Norm(List<(string, int[])> list, string module, int width)
    {
        list.Add((module + ".weight", [width]));
        list.Add((module + ".bias", [width]));
    }

    /// <summary>The config object of this family from inferred fields (model_type and the base architecture set).</summary>
    protected static PretrainedConfig Make(string modelType, string architecture, JsonObject fields)
    {
        fields["model_type"] = modelType;
        fields["architectures"] = new JsonArray(architecture);
        return AutoConfig.Families[modelType](fields);
    }
}
