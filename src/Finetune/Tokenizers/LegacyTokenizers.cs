using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Tokenizers;

/// <summary>Tokenizers built from the legacy (slow-tokenizer) files, with the rules those Python classes apply.</summary>
internal static class LegacyTokenizers
{
    public static TokenizerPipeline Bert(string vocabPath, TokenizerSettings s)
    {
        string[] vocab = ReadLines(vocabPath);
        s.UnkToken ??= "[UNK]"; s.ClsToken ??= "[CLS]"; s.SepToken ??= "[SEP]"; s.PadToken ??= "[PAD]"; s.MaskToken ??= "[MASK]";
        var model = new WordPieceModel(vocab, s.UnkToken);
        return new TokenizerPipeline
        {
            Model = model,
            Normalizer = new BertNormalizer(true, s.TokenizeChineseChars, s.StripAccents ?? s.DoLowerCase, s.DoLowerCase),
            PreTokenizer = new BertPreTokenizer(),
            PostProcessor = TemplatePostProcessor.Bert(Id(model, s.ClsToken, vocabPath), Id(model, s.SepToken, vocabPath)),
            Decoder = new WordPieceDecoder("##", true),
            Added = Specials(model, s),
        };
    }

    public static TokenizerPipeline Roberta(string vocabPath, string mergesPath, TokenizerSettings s)
    {
        if (AutoTokenizer.ReadJson(vocabPath) is not JsonObject vj) throw FinetuneException.Invalid($"{vocabPath} must hold a JSON object of token → id");
        var vocab = new Dictionary<string, int>(vj.Count);
        foreach (var (k, v) in vj)
        {
            if (v is not JsonValue jv || !jv.TryGetValue(out int id) || id < 0)
                throw FinetuneException.Invalid($"{vocabPath}: the id of '{k}' is {v?.ToJsonString() ?? "null"}, not a non-negative integer");
            vocab[k] = id;
        }
        var merges = ReadMerges(mergesPath);
        s.BosToken ??= "<s>"; s.EosToken ??= "</s>"; s.UnkToken ??= "<unk>"; s.ClsToken ??= "<s>"; s.SepToken ??= "</s>"; s.PadToken ??= "<pad>"; s.MaskToken ??= "<mask>";
        if (!s.Declared.ContainsKey(s.MaskToken) && vocab.TryGetValue(s.MaskToken, out int maskId))
            s.Declared[s.MaskToken] = new AddedToken(s.MaskToken, maskId, true, LStrip: true);
        var model = new BpeModel(TokenizerModel.Table(vocab, vocabPath), merges, source: mergesPath);
        return new TokenizerPipeline
        {
            Model = model,
            PreTokenizer = new ByteLevelPreTokenizer(s.AddPrefixSpace, true),
            PostProcessor = TemplatePostProcessor.Roberta(Id(model, s.ClsToken, vocabPath), Id(model, s.SepToken, vocabPath)),
            Decoder = new ByteLevelDecoder(),
            TrimOffsets = true,
            Added = Specials(model, s),
        };
    }

    public static TokenizerPipeline Albert(string spiecePath, TokenizerSettings s)
    {
        var proto = SentencePieceProto.Load(spiecePath);
        if (proto.ModelType != 1) throw new FinetuneException(ErrorKind.Unsupported, $"{spiecePath}: only SentencePiece Unigram models are supported without tokenizer.json (model type {proto.ModelType})");
        var map = proto.PrecompiledCharsmap is { Length: > 0 } blob ? new PrecompiledCharsMap(blob, spiecePath) : null;
        int unk = proto.Types.IndexOf(2);
        if (unk < 0) throw FinetuneException.Invalid($"{spiecePath} has no unknown piece");
        var unigram = new UnigramModel(proto.Pieces.ToArray(), proto.Scores.Select(f => (double)f).ToArray(), unk, fuseUnk: true, types: proto.Types.ToArray(), float32PathScores: true);
        var spNorm = new SentencePieceNormalizer(map, proto.AddDummyPrefix, proto.RemoveExtraWhitespaces, proto.EscapeWhitespaces);
        var model = new SentencePieceDigitCommaModel(unigram, spNorm);
        s.UnkToken ??= "<unk>"; s.ClsToken ??= "[CLS]"; s.SepToken ??= "[SEP]"; s.PadToken ??= "<pad>"; s.MaskToken ??= "[MASK]";
        return new TokenizerPipeline
        {
            Model = model,
            Normalizer = new SequenceNormalizer([new AlbertPreprocessNormalizer(s.DoLowerCase, s.RemoveSpace, s.KeepAccents), spNorm]),
            PostProcessor = TemplatePostProcessor.Bert(Id(model, s.ClsToken, spiecePath), Id(model, s.SepToken, spiecePath)),
            Decoder = new MetaspaceDecoder('\u2581', "always"),
            Added = Specials(model, s),
        };
    }

    private static (string, int) Id(TokenizerModel model, string token, string path) =>
        (token, model.TokenToId(token) ?? throw FinetuneException.Invalid($"{path}: special token '{token}' is not in the vocabulary"));

    private static AddedVocabulary Specials(TokenizerModel model, TokenizerSettings s)
    {
        var list = new List<AddedToken>();
        foreach (var tok in new[] { s.PadToken, s.UnkToken, s.ClsToken, s.SepToken, s.MaskToken, s.BosToken, s.EosToken })
        {
            if (tok == null || list.Any(t => t.Content == tok)) continue;
            if (s.Declared.TryGetValue(tok, out var declared)) list.Add(declared);
            else if (model.TokenToId(tok) is int id) list.Add(new AddedToken(tok, id));
        }
        foreach (var d in s.Declared.Values) if (!list.Any(t => t.Content == d.Content)) list.Add(d);
        return new AddedVocabulary(list);
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            var lines = File.ReadAllText(path).Split('\n');
            int n = lines.Length;
            if (n > 0 && lines[^1].Length == 0) n--;
            var r = new string[n];
            for (int i = 0; i < n; i++) r[i] = lines[i].TrimEnd('\r');
            return r;
        }
        catch (IOException e) { throw new FinetuneException(ErrorKind.Io, $"cannot read {path}: {e.Message}", e); }
    }

    public static List<(string, string)> ReadMerges(string path)
    {
        var merges = new List<(string, string)>();
        string[] lines = ReadLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if ((i == 0 && line.StartsWith("#version", StringComparison.Ordinal)) || line.Length == 0) continue;
            int sp = line.IndexOf(' ');
            if (sp <= 0 || sp == line.Length - 1 || line.IndexOf(' ', sp + 1) >= 0)
                throw FinetuneException.Invalid($"{path} line {i + 1}: a merge must be two tokens separated by one space, got '{line}'");
            merges.Add((line[..sp], line[(sp + 1)..]));
        }
        return merges;
    }
}
