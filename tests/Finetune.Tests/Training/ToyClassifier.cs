using Finetune.Data;
using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Training;

namespace Finetune.Tests.Training;

/// <summary>A tiny classifier (embedding → dropout → first token → LayerNorm → linear) for Trainer behaviour tests.</summary>
internal sealed class ToyClassifier : Module, ISequenceClassifier
{
    private readonly Embedding embed;
    private readonly Dropout dropout;
    private readonly LayerNorm norm;
    private readonly Linear head;

    public ToyClassifier(int vocab = 50, int hidden = 8, int labels = 2, float dropoutP = 0.1f, ulong seed = 7)
    {
        embed = Register("embeddings", new Embedding(vocab, hidden));
        dropout = Register("dropout", new Dropout(dropoutP));
        norm = Register("LayerNorm", new LayerNorm(hidden));
        head = Register("classifier", new Linear(hidden, labels));
        var rng = new Generator(seed);
        foreach (var (_, p) in NamedParameters())
            if (p.Rank == 2) rng.FillNormal(p.Span, 0f, 0.2f);
        NumLabels = labels;
    }

    public Module Module => this;
    public int NumLabels { get; }
    public string ProblemType => "single_label_classification";
    public IReadOnlyDictionary<int, string>? Id2Label => null;

    public ClassifierOutput Forward(Batch batch)
    {
        var ids = IntTensor.FromArray(batch.InputIds, batch.BatchSize, batch.SeqLen);
        var h = dropout.Forward(embed.Forward(ids));
        var logits = head.Forward(norm.Forward(F.SelectFirstToken(h)));
        Tensor? loss = batch.Labels != null ? F.CrossEntropy(logits, IntTensor.FromArray(batch.Labels, batch.BatchSize)) : null;
        return new ClassifierOutput(logits, loss);
    }

    public void SaveConfig(string directory) =>
        AtomicFile.WriteAllText(Path.Combine(directory, "config.json"), "{\"model_type\": \"toy\", \"num_labels\": " + NumLabels + "}\n");

    /// <summary>A tokenized dataset of <paramref name="rows"/> random rows of 2 to 7 tokens, labelled by the first token's parity.</summary>
    public static Dataset Data(int rows, int seed = 3)
    {
        var rng = new Random(seed);
        var ids = new int[rows][];
        var labels = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            int len = 2 + rng.Next(6);
            ids[i] = new int[len];
            for (int j = 0; j < len; j++) ids[i][j] = 1 + rng.Next(49);
            labels[i] = ids[i][0] % 2;
        }
        return Rows(ids, labels);
    }

    /// <summary>A tokenized dataset of the given rows: input_ids and label.</summary>
    public static Dataset Rows(int[][] inputIds, int[] labels) =>
        Dataset.FromDict(new Dictionary<string, System.Collections.IList> { ["input_ids"] = inputIds, ["label"] = labels });
}
