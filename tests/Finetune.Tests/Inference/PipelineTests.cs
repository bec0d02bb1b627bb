using System.Text.Json;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Tokenizers;
using Finetune.Training;
using Finetune.Weights;

namespace Finetune.Tests.Inference;

public class PipelineTests
{
    [SkippableFact]
    public void PipelineScoresAreTheSoftmaxOfTheReferenceLogits()
    {
        string final = SharedData.Require("golden/training/bs16_e2/final");
        string tokDir = SharedData.Require("models/bert-base-uncased");
        string validation = SharedData.Require("golden/training/data/validation.jsonl");
        var pipe = TextClassificationPipeline.FromPretrained(final, tokDir, batchSize: 16, maxLength: 64);
        var texts = File.ReadLines(validation).Take(40).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToList();
        using var golden = SafeTensors.Read(SharedData.Require("golden/training/bs16_e2/eval_logits.safetensors"));
        float[] logits = golden.ReadFloat("logits");

        var all = pipe.Predict(texts, topK: null);
        for (int i = 0; i < texts.Count; i++)
        {
            double l0 = logits[2 * i], l1 = logits[2 * i + 1];
            double p1 = 1 / (1 + Math.Exp(l0 - l1));
            var byLabel = all[i].ToDictionary(s => s.Label, s => s.Score);
            Assert.Equal(new[] { "neg", "pos" }, byLabel.Keys.Order());
            Assert.Equal(p1, byLabel["pos"], 4);
            Assert.Equal(1 - p1, byLabel["neg"], 4);
            Assert.True(all[i][0].Score >= all[i][1].Score);
            Assert.Equal(l1 > l0 ? "pos" : "neg", pipe.Predict(texts[i]).Label);
        }
    }
}
