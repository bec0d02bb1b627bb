using System.Runtime.CompilerServices;
using Finetune.Data;
using Finetune.Inference;
using Finetune.Models;
using Finetune.Onnx;
using Finetune.Tensors;
using Finetune.Terminal;
using Finetune.Tokenizers;
using Finetune.Training;

namespace Finetune.Tests;

/// <summary>
/// README.md's C# snippets, compiled as they are written (all namespaces imported together, as a user's file
/// would), and a test that every line of every README snippet is here in the same order. The snippets are only
/// compiled, never run: they name Hub models.
/// </summary>
public class ReadmeSnippetTests
{
    [Fact]
    public void EveryReadmeSnippetIsCompiledHere()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        string[] here = Lines(File.ReadAllText(ThisFile()));
        var blocks = readme.Split("```csharp\n").Skip(1).Select(b => b[..b.IndexOf("```", StringComparison.Ordinal)]).ToArray();
        Assert.True(blocks.Length >= 4, $"README has {blocks.Length} C# snippets");
        foreach (string block in blocks)
        {
            int at = 0;
            foreach (string line in Lines(block))
            {
                while (at < here.Length && here[at] != line) at++;
                Assert.True(at < here.Length, $"README line not compiled by ReadmeSnippetTests (or out of order): {line}");
                at++;
            }
        }
    }

    private static string[] Lines(string text) => text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();

    private static string ThisFile([CallerFilePath] string path = "") => path;

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(Path.GetDirectoryName(ThisFile())!); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Finetune.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Finetune.slnx not found above " + ThisFile());
    }

    private static int[] Tokenize(string text) => text.Split(' ').Select(w => w.Length).ToArray();

    internal static void TokenizersSnippet(List<string> texts, List<string> pairs)
    {
        var tok = Finetune.Tokenizers.AutoTokenizer.FromPretrained("models/bert-base-uncased"); // tokenizer.json or legacy files
        var batch = tok.EncodeBatch(texts, pairs, new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128, Padding = PaddingStrategy.Longest });
        int[] ids = batch[0].InputIds;   // also TokenTypeIds, AttentionMask, SpecialTokensMask, Offsets, WordIds, Tokens
        string text = tok.Decode(ids, skipSpecialTokens: true);
        int[] plain = tok.EncodeIds("a great film"); // tokenizer.encode: the ids alone, [CLS] and [SEP] included
        GC.KeepAlive(text);
        GC.KeepAlive(plain);
    }

    internal static void TrainingSnippet()
    {
        var tokenizer = AutoTokenizer.FromPretrained("bert-base-uncased");
        var rt = LoadDataset.Load("rotten_tomatoes");
        Dataset Encode(Dataset split) => split.Map(batch =>   // keeps `label`; the collator pads each batch
        {
            var enc = tokenizer.EncodeBatch(batch.GetStrings("text").Select(t => t ?? "").ToList(), null,
                new EncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128 });
            return new Dictionary<string, System.Collections.IList>
            {
                ["input_ids"] = enc.InputIds,
                ["token_type_ids"] = enc.TokenTypeIds,
                ["attention_mask"] = enc.AttentionMask,
            };
        }, new MapOptions { RemoveColumns = ["text"] });
        var model = new SequenceClassifierAdapter(AutoModelForSequenceClassification.FromPretrained("bert-base-uncased", numLabels: 2));
        var args = new TrainingArguments { OutputDir = "runs/rt", NumTrainEpochs = 3, PerDeviceTrainBatchSize = 32, EvalStrategy = IntervalStrategy.Epoch };
        var trainer = new Trainer(model, args, Encode(rt["train"]), Encode(rt["validation"]), Trainer.AccuracyAndMacroF1,
            [new ProgressCallback(new ProgressBar())], tokenizer.PadTokenId);
        TrainOutput result = trainer.Train();
        PredictionOutput test = trainer.Predict(Encode(rt["test"]));   // test.Metrics["test_accuracy"], test.Predictions
        trainer.SaveModel();
        trainer.SaveState();
        trainer.SaveMetrics("test", test.Metrics);
        GC.KeepAlive(result);
    }

    sealed class LogProgress : IProgressReporter   // a GUI, a log, a web page...
    {
        public void Report(in ProgressUpdate u) => Console.Error.WriteLine($"{u.Count}/{u.Total} {u.Rate:0.0} {u.Unit}/s, {u.Eta} left, loss {u.Loss}");
        public void Pause() { }
    }

    internal static void ProgressSnippet()
    {
        var progress = new ProgressCallback(new LogProgress());       // a Trainer callback, as above
        var tracker = new ProgressTracker(new LogProgress(), total: 100, unit: "batch");
        for (int i = 0; i < 100; i++) tracker.Tick(loss: 1.0 / (i + 1));
        FinetuneLog.Sink = Console.Error.WriteLine;                   // the library's warnings on stderr
        GC.KeepAlive(progress);
    }

    internal static void ModelsSnippet()
    {
        // config.json + model.safetensors / sharded / pytorch_model.bin; dispatches on model_type like transformers.
        var model = AutoModelForSequenceClassification.FromPretrained("bert-base-uncased", new FromPretrainedOptions
        { NumLabels = 3, IgnoreMismatchedSizes = true, Log = Console.WriteLine }, out LoadingReport report);
        var ids = IntTensor.FromArray(new[] { 101, 7592, 2088, 102 }, 1, 4);
        var output = model.Forward(ids, attentionMask: null, tokenTypeIds: null, labels: new[] { 2 });
        output.Loss!.Backward();                       // gradients in each parameter's .Grad
        model.SavePretrained("out");                   // config.json (every original field kept) + model.safetensors
        GC.KeepAlive(report);
    }

    internal static void OnnxSnippet()
    {
        // The two pretrained encoders the project restores as NuGet packages (PackageDownload in Finetune.csproj),
        // read from the package's DLL without loading it.
        if (Finetune.Hub.PackagedModels.TryFind("sentence-transformers/all-MiniLM-L6-v2", out var pkg))
        {
            using var onnx = pkg.OpenOnnx();
            using var vocab = pkg.OpenVocab();
            OnnxImport.ToPretrainedFolder(onnx, vocab, "models/minilm");   // or ToPretrainedFolder("model.onnx", "out")
        }
        using var weights = OnnxTensorSource.Open("model.onnx");           // an ITensorSource under Hugging Face names
        var embedder = SentenceEmbedder.FromPretrained("models/minilm");    // modules.json + 1_Pooling/config.json
        float[][] vectors = embedder.Encode(["a great film", "a dull one"], batchSize: 32);
        GC.KeepAlive(vectors);
    }

    internal static void DatasetsSnippet()
    {
        // Known names read files under FINETUNE_DATASETS (default ../shared/datasets); paths, folders and globs work too.
        var ds = LoadDataset.Load("glue/mrpc");                      // train/validation/test: sentence1, sentence2, label, idx
        var names = ((ClassLabel)ds["train"].Features["label"]).Names;     // not_equivalent, equivalent
        var small = ds["train"].Shuffle(42).Select(0, 1000);          // the same rows as HF's shuffle(seed=42) (numpy PCG64)
        var tokenized = new TokenizedCache().Map(small, batch => new Dictionary<string, System.Collections.IList>
        {
            ["input_ids"] = batch.GetStrings("sentence1").Select(t => Tokenize(t!)).ToArray(),   // any tokenizer delegate
        }, tokenizerFingerprint: "bert-base-uncased@sha", arguments: "max_length=128",
           new MapOptions { RemoveColumns = ["sentence1", "sentence2", "idx"] });                // 2nd run: read from disk
        var loader = new DataLoader(tokenized.RenameColumn("label", "labels"), new DataCollatorWithPadding(padTokenId: 0),
            batchSize: 16, SamplerKind.Random, seed: 42);
        foreach (Batch b in loader) { /* b.InputIds [B*T], b.AttentionMask, b.Labels, b.BatchSize, b.SeqLen */ }
        GC.KeepAlive(names);
    }
}
