using System.Diagnostics;
using Finetune.Metrics;
using Finetune.Training;

namespace Finetune.Cli.Recipes;

/// <summary>
/// `finetune evaluate`: a model as it is on one split. Loads the dataset (only the split scored is tokenized), the
/// model and its tokenizer, predicts, and scores with the recipe's metric set; trains nothing and writes nothing.
/// </summary>
public static class EvaluateRecipe
{
    public static RecipeResult Run(RecipeOptions o)
    {
        // As it is: the model keeps its own head and labels, and the dataset needs no training split.
        o.ZeroShot = true;
        var args = o.Args;
        args.Validate();
        var metricSet = RecipeMetrics.For(o.Metric, o.Dataset, o.DatasetConfig);
        // The split scored: the test split, else validation; a split without labels (GLUE test) gives way to validation.
        // evaluate prints its report alone: dataset warnings (a skipped row) are not shown.
        var splits = RecipeData.Prepare(o, _ => { });
        var testSet = splits.Test;
        if (o.MaxEvalSamples is int me && me < testSet.NumRows) testSet = testSet.Shuffle((ulong)(args.DataSeed ?? args.Seed)).Select(0, me);

        string[] labelNames = splits.LabelNames;
        var model = FineTuneRecipe.LoadModel(o, labelNames);
        int maxPositions = model.Model.Config.Fields["max_position_embeddings"]?.GetValue<int>() ?? int.MaxValue;
        if (o.MaxLength > maxPositions)
            throw FinetuneException.Invalid($"max_length {o.MaxLength} is larger than the model's {maxPositions} positions (max_position_embeddings).");
        var tokenizer = testSet.ColumnNames.Contains("input_ids") && o.Tokenizer == null ? null : FineTuneRecipe.LoadTokenizer(o);
        var test = FineTuneRecipe.Tokenize(testSet, o, tokenizer, labelNames, splits.TestName);

        var trainer = new Trainer(model, args, computeMetrics: metricSet.Compute, padTokenId: tokenizer?.PadTokenId ?? model.Model.Config.PadTokenId ?? 0);
        var clock = Stopwatch.StartNew();
        var predicted = trainer.Predict(test);
        double evalSeconds = clock.Elapsed.TotalSeconds;
        int[] yPred = new EvalPrediction(predicted.Predictions, predicted.NumLabels, null, null).ArgMax();
        int[] yTrue = predicted.LabelIds ?? throw FinetuneException.Invalid($"The '{splits.TestName}' split has no labels to evaluate against.");
        return new RecipeResult
        {
            Train = null,
            Epochs = [],
            TestMetrics = predicted.Metrics,
            TestSplit = splits.TestName,
            EvalSplit = splits.Eval != null ? splits.EvalName! : splits.TestName,
            Report = ClassificationReport.Build(yTrue, yPred, FineTuneRecipe.ReportNames(yTrue, yPred, labelNames)),
            ConfusionMatrix = ClassificationMetrics.ConfusionMatrix(yTrue, yPred, Enumerable.Range(0, labelNames.Length).ToArray()),
            LabelNames = labelNames,
            NumParameters = model.Module.NumParameters(),
            TrainSeconds = 0,
            EvalSeconds = evalSeconds,
            TrainSamples = 0,
            EvalSamples = test.NumRows,
            LogHistory = trainer.State.LogHistory,
            Metrics = metricSet,
        };
    }
}
