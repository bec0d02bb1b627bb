using Finetune.Models;
using Finetune.Models.Bert;

namespace Finetune.Onnx;

/// <summary>
/// RoBERTa: BERT's names under "roberta.", positions counted from the padding index (a CumSum over ids ≠ pad in
/// the graph, which is how a bare RobertaModel is told from a BertModel); the head is classifier.dense → out_proj.
/// </summary>
internal sealed class OnnxRobertaFamily : OnnxBertFamily
{
    public override string Prefix => "roberta";
    public override string ClassStem => "Roberta";
    public override string LabelsWeight => "classifier.out_proj.weight";

    public override bool Recognises(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare) =>
        bare.ContainsKey(Query0Bias) && file.Graph.Nodes.Exists(n => n.OpType == "CumSum");

    public override PretrainedConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare)
    {
        var fields = BertFields(file, bare);
        fields["pad_token_id"] = OnnxGraphFacts.PadCompared(file) ?? 1;
        fields["bos_token_id"] = 0;
        fields["eos_token_id"] = 2;
        return Make("roberta", "RobertaModel", fields);
    }

    public override List<(string Name, int[] Shape)> Head(PretrainedConfig config) => DenseOutProjHead(config);
}
