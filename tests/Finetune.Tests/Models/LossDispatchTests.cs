using System.Text.Json.Nodes;
using Finetune.Models;
using Finetune.Models.Bert;
using Finetune.Tensors;

namespace Finetune.Tests.Models;

/// <summary>The loss follows problem_type (or transformers' inference rule); each checked against the formula by hand.</summary>
public class LossDispatchTests
{
    private static SequenceClassificationModel Tiny(int labels, string? problemType = null)
    {
        var json = new JsonObject
        {
            ["vocab_size"] = 50,
            ["hidden_size"] = 8,
            ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 2,
            ["intermediate_size"] = 16,
            ["max_position_embeddings"] = 16,
            ["num_labels"] = labels,
        };
        if (problemType != null) json["problem_type"] = problemType;
        var model = AutoModelForSequenceClassification.FromConfig(new BertConfig(json), new Generator(5));
        model.Eval();
        return model;
    }

    private static readonly IntTensor Ids = IntTensor.FromArray(new[] { 2, 7, 9, 3, 2, 11, 3, 0 }, 2, 4);
    private static readonly IntTensor Mask = IntTensor.FromArray(new[] { 1, 1, 1, 1, 1, 1, 1, 0 }, 2, 4);

    [Fact]
    public void IntegerLabelsGiveCrossEntropy()
    {
        var model = Tiny(3);
        var output = model.Forward(Ids, Mask, null, labels: new[] { 2, 0 });
        Assert.Equal(ProblemTypes.SingleLabel, output.ProblemType);
        Assert.Equal(ProblemTypes.SingleLabel, model.Config.ProblemType); // recorded, as transformers does
        float[] l = output.Logits.ToArray();
        double Nll(int row, int label)
        {
            double lse = Math.Log(Enumerable.Range(0, 3).Sum(j => Math.Exp(l[row * 3 + j])));
            return lse - l[row * 3 + label];
        }
        Assert.Equal((Nll(0, 2) + Nll(1, 0)) / 2, output.Loss!.Item(), 6);
    }

    [Fact]
    public void FloatLabelVectorsGiveBinaryCrossEntropy()
    {
        var model = Tiny(3);
        float[] targets = { 1, 0, 1, 0, 0, 1 };
        var output = model.Forward(Ids, Mask, null, labels: targets);
        Assert.Equal(ProblemTypes.MultiLabel, output.ProblemType);
        float[] l = output.Logits.ToArray();
        double expected = l.Select((x, i) => -(targets[i] * Math.Log(1 / (1 + Math.Exp(-x))) + (1 - targets[i]) * Math.Log(1 - 1 / (1 + Math.Exp(-x))))).Average();
        Assert.Equal(expected, output.Loss!.Item(), 6);
    }

    [Fact]
    public void OneLabelGivesMeanSquaredError()
    {
        var model = Tiny(1);
        var output = model.Forward(Ids, Mask, null, labels: new[] { 0.5f, -1.25f });
        Assert.Equal(ProblemTypes.Regression, output.ProblemType);
        float[] l = output.Logits.ToArray();
        Assert.Equal((Math.Pow(l[0] - 0.5, 2) + Math.Pow(l[1] + 1.25, 2)) / 2, output.Loss!.Item(), 6);
    }

    [Fact]
    public void ConfiguredProblemTypeWinsAndBadLabelsAreClearErrors()
    {
        var model = Tiny(2, ProblemTypes.MultiLabel);
        Assert.Equal(ProblemTypes.MultiLabel, model.Forward(Ids, Mask, null, labels: new[] { 1, 0, 0, 1 }).ProblemType);
        var single = Tiny(2);
        Assert.Throws<FinetuneException>(() => single.Forward(Ids, Mask, null, labels: new[] { 1, 0, 1 }));
        Assert.Throws<FinetuneException>(() => single.Forward(Ids, Mask, null, labels: new[] { 5, 0 }));
        Assert.Null(single.Forward(Ids, Mask).Loss);
    }

    [Fact]
    public void PaddingDoesNotChangeARowsLogits()
    {
        // Row 1 alone (3 tokens) against row 1 padded to 4 in the batch: the attention mask hides the pad.
        var model = Tiny(2);
        float[] batched = model.Forward(Ids, Mask).Logits.ToArray();
        float[] alone = model.Forward(IntTensor.FromArray(new[] { 2, 11, 3 }, 1, 3)).Logits.ToArray();
        Assert.Equal(alone[0], batched[2], 5);
        Assert.Equal(alone[1], batched[3], 5);
    }

    [Fact]
    public void InputsLongerThanThePositionTableAreAClearError()
    {
        var model = Tiny(2);
        var ids = IntTensor.FromArray(Enumerable.Repeat(5, 17).ToArray(), 1, 17);
        var e = Assert.Throws<FinetuneException>(() => model.Forward(ids));
        Assert.Contains("16 position embeddings", e.Message);
    }
}
