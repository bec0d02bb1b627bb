using System.Text.Json;

namespace Finetune.Tests.Weights;

/// <summary>The golden model cases (shared/golden/models/&lt;case&gt;) and helpers to read their case.json.</summary>
public static class GoldenCases
{
    public static readonly string[] All = { "bert", "bert_multilabel", "bert_regression", "distilbert", "roberta", "camembert", "albert", "electra" };

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in All) data.Add(c);
        return data;
    }

    public static string Dir(string name) => SharedData.Require("golden/models/" + name);

    public static JsonElement CaseJson(string dir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json"))).RootElement;
}
