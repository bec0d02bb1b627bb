using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Models.Electra;

namespace Finetune.Onnx;

/// <summary>
/// ELECTRA: BERT's names under "electra.", embeddings of embedding_size projected to hidden_size by
/// embeddings_project when the two differ, no pooler; the head is classifier.dense → gelu → out_proj.
/// </summary>
internal sealed class OnnxElectraFamily : OnnxBertFamily
{
    public override string Prefix => "electra";
    public override string ClassStem => "Electra";
    public override string LabelsWeight => "classifier.out_proj.weight";
    public override string? PoolerWeight => null;

    /// <summary>Without the projection a bare ELECTRA encoder has exactly BERT's names: it is read as BERT.</summary>
    public override bool Recognises(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare) => bare.ContainsKey("embeddings_project.weight");

    public override PretrainedConfig Infer(OnnxFile file, IReadOnlyDictionary<string, OnnxWeight> bare)
    {
        var fields = BertFields(file, bare);
        fields["embedding_size"] = ShapeOf(file, bare, "embeddings.word_embeddings.weight", 2)[1];
        return Make("electra", "ElectraModel", fields);
    }

    protected override void AfterEmbeddings(BertConfig c, List<(string, int[])> list)
    {
        var e = (ElectraConfig)c;
        if (e.EmbeddingSize != e.HiddenSize) Linear(list, "embeddings_project", e.EmbeddingSize, e.HiddenSize);
    }

    public override List<(string Name, int[] Shape)> Head(PretrainedConfig config) => DenseOutProjHead(config);
}
