namespace Finetune.Models;

/// <summary>The three problem types of sequence classification and how transformers picks one when unset.</summary>
public static class ProblemTypes
{
    public const string Regression = "regression";
    public const string SingleLabel = "single_label_classification";
    public const string MultiLabel = "multi_label_classification";

    public static bool IsValid(string p) => p is Regression or SingleLabel or MultiLabel;

    /// <summary>One label → regression; integer labels → single-label; otherwise (float label vectors) multi-label.</summary>
    public static string Infer(int numLabels, bool integerLabels) =>
        numLabels == 1 ? Regression : integerLabels ? SingleLabel : MultiLabel;
}
