using System.Text.Json;
using Finetune.Metrics;

namespace Finetune.Tests.Metrics;

public class GlueAndFormatTests
{
    [SkippableFact]
    public void GlueTaskSetsUseTheSklearnAndScipyValues()
    {
        var cls = JsonDocument.Parse(File.ReadAllText(SharedData.Require("golden/metrics/classification.json"))).RootElement[0];
        int[] yTrue = cls.GetProperty("y_true").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] yPred = cls.GetProperty("y_pred").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var mrpc = GlueMetrics.Compute("mrpc", yPred, yTrue);
        Assert.Equal(new[] { "accuracy", "f1" }, mrpc.Keys);
        MetricsGoldenTests.Close(cls.GetProperty("accuracy").GetDouble(), mrpc["accuracy"], "accuracy");
        MetricsGoldenTests.Close(cls.GetProperty("averages").GetProperty("binary").GetProperty("f1").GetDouble(), mrpc["f1"], "f1");
        var cola = GlueMetrics.Compute("cola", yPred, yTrue);
        MetricsGoldenTests.Close(cls.GetProperty("matthews_corrcoef").GetDouble(), cola["matthews_correlation"], "mcc");
        Assert.Equal(new[] { "accuracy" }, GlueMetrics.Compute("sst2", yPred, yTrue).Keys);

        var reg = JsonDocument.Parse(File.ReadAllText(SharedData.Require("golden/metrics/regression.json"))).RootElement[1];
        double[] labels = reg.GetProperty("labels").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] preds = reg.GetProperty("predictions").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var stsb = GlueMetrics.Compute("stsb", preds, labels);
        MetricsGoldenTests.Close(reg.GetProperty("pearsonr").GetProperty("statistic").GetDouble(), stsb["pearson"], "pearson");
        MetricsGoldenTests.Close(reg.GetProperty("spearmanr").GetProperty("statistic").GetDouble(), stsb["spearmanr"], "spearman");
        Assert.Throws<FinetuneException>(() => GlueMetrics.Compute("nope", yPred, yTrue));
    }

    [Theory]
    // Python: format(0.125, '.2f') == '0.12', format(0.875, '.2f') == '0.88', format(2.675, '.2f') == '2.67'
    // (2.675 is stored just below), format(0.5, '.0f') == '0', format(1.5, '.0f') == '2', format(-0.0, '.2f') == '-0.00'.
    [InlineData(0.125, 2, "0.12")]
    [InlineData(0.875, 2, "0.88")]
    [InlineData(2.675, 2, "2.67")]
    [InlineData(0.5, 0, "0")]
    [InlineData(1.5, 0, "2")]
    [InlineData(-0.0, 2, "-0.00")]
    [InlineData(0.83333333, 4, "0.8333")]
    public void FixedFormattingRoundsLikePython(double value, int digits, string expected) =>
        Assert.Equal(expected, PyFormat.Fixed(value, digits));

    [Fact]
    public void MismatchedLengthsAreAClearError()
    {
        var e = Assert.Throws<FinetuneException>(() => ClassificationMetrics.Accuracy(new[] { 1, 0 }, new[] { 1 }));
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
    }
}
