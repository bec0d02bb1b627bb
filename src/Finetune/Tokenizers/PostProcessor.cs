namespace Finetune.Tokenizers;

/// <summary>One slot of a template: a special token (by its key in <see cref="TemplatePostProcessor.Specials"/>) or sequence A (0) / B (1).</summary>
internal readonly record struct TemplateItem(string? Special, int Sequence, int TypeId);

/// <summary>
/// Adds special tokens around sequence A (and B): TemplateProcessing in general; BertProcessing
/// ([CLS] A [SEP] B [SEP], type ids 0 then 1) and RobertaProcessing (&lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;, type ids 0) are templates too.
/// </summary>
internal sealed class TemplatePostProcessor(IReadOnlyList<TemplateItem> single, IReadOnlyList<TemplateItem> pair,
    IReadOnlyDictionary<string, (int[] Ids, string[] Tokens)> specials, string kind)
{
    public IReadOnlyList<TemplateItem> Single { get; } = single;
    public IReadOnlyList<TemplateItem> Pair { get; } = pair;
    public IReadOnlyDictionary<string, (int[] Ids, string[] Tokens)> Specials { get; } = specials;
    /// <summary>"TemplateProcessing", "BertProcessing" or "RobertaProcessing": how to write it back.</summary>
    public string Kind { get; } = kind;

    public int NumSpecialTokensToAdd(bool pair)
    {
        int n = 0;
        foreach (var item in pair ? Pair : Single) if (item.Special != null) n += Specials[item.Special].Ids.Length;
        return n;
    }

    public static TemplatePostProcessor Bert((string Token, int Id) cls, (string Token, int Id) sep) => new(
        [new(cls.Token, 0, 0), new(null, 0, 0), new(sep.Token, 0, 0)],
        [new(cls.Token, 0, 0), new(null, 0, 0), new(sep.Token, 0, 0), new(null, 1, 1), new(sep.Token, 0, 1)],
        Table(cls, sep), "BertProcessing");

    public static TemplatePostProcessor Roberta((string Token, int Id) cls, (string Token, int Id) sep) => new(
        [new(cls.Token, 0, 0), new(null, 0, 0), new(sep.Token, 0, 0)],
        [new(cls.Token, 0, 0), new(null, 0, 0), new(sep.Token, 0, 0), new(sep.Token, 0, 0), new(null, 1, 0), new(sep.Token, 0, 0)],
        Table(cls, sep), "RobertaProcessing");

    private static Dictionary<string, (int[], string[])> Table((string Token, int Id) cls, (string Token, int Id) sep)
    {
        var d = new Dictionary<string, (int[], string[])> { [cls.Token] = ([cls.Id], [cls.Token]) };
        d[sep.Token] = ([sep.Id], [sep.Token]);
        return d;
    }
}
