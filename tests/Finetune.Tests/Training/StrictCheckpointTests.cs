using Finetune.Data;
using System.Runtime.InteropServices;
using Finetune.Tensors;
using Finetune.Tests.Peft;
using Finetune.Tests.Weights;
using Finetune.Training;
using Finetune.Weights;

namespace Finetune.Tests.Training;

/// <summary>
/// Resuming and load_best_model_at_end read a checkpoint through the loader FromPretrained uses: shapes are checked
/// by name (not element counts), and every format a model folder may hold loads (sharded safetensors, pytorch_model.bin).
/// </summary>
// Alone: dropout draws from the process-wide generator the Trainer seeds, which a test running beside it would advance.
[Collection("Parallelism")]
public class StrictCheckpointTests
{
    private static Dataset Data() => LoraTrainingTests.Data();

    private static TrainingArguments Args(string dir, int saveSteps) => new()
    {
        OutputDir = dir,
        PerDeviceTrainBatchSize = 4,
        MaxSteps = 6,
        LearningRate = 0.01,
        SaveStrategy = saveSteps > 0 ? IntervalStrategy.Steps : IntervalStrategy.No,
        SaveSteps = Math.Max(saveSteps, 1),
        EvalStrategy = IntervalStrategy.No,
        DisableTqdm = true,
    };

    private static SequenceClassifierAdapter Model(ulong seed) => new(LoraTests.TinyBert(seed));

    private static float[][] Weights(SequenceClassifierAdapter m) => m.Module.NamedParameters().Select(p => p.Value.ToArray()).ToArray();

    private static List<NamedTensor> ReadAll(string file)
    {
        using var src = SafeTensors.Read(file);
        return src.Names.Select(n => new NamedTensor(n, src.Info(n).Shape, src.ReadFloat(n))).ToList();
    }

    [Fact]
    public void AResumeFromATensorOfTheRightSizeButAnotherShapeFailsNamingIt()
    {
        using var t = new TempDir();
        new Trainer(Model(3), Args(t.Path, 3), Data()).Train();
        string ckpt = Path.Combine(t.Path, "checkpoint-3");
        string file = Path.Combine(ckpt, Checkpoint.SafeTensorsName);
        // classifier.weight is [3, 8]: the same 24 values stored as [8, 3] have the element count right and the shape wrong.
        var tensors = ReadAll(file);
        int at = tensors.FindIndex(x => x.Name == "classifier.weight");
        Assert.Equal(new[] { 3, 8 }, tensors[at].Shape);
        tensors[at] = tensors[at] with { Shape = [8, 3] };
        SafeTensors.Write(file, tensors);

        var resumed = Model(77);
        var before = Weights(resumed);
        var e = Assert.ThrowsAny<FinetuneException>(() => new Trainer(resumed, Args(t.Path, 3), Data()).Train(ckpt));
        Assert.Equal(ErrorKind.InvalidInput, e.Kind);
        Assert.Contains("'classifier.weight'", e.Message);
        Assert.Contains("[8, 3]", e.Message);
        Assert.Equal(before, Weights(resumed)); // refused before any parameter changed
    }

    [Theory]
    [InlineData("sharded safetensors")]
    [InlineData("pytorch_model.bin")]
    public void ACheckpointInAnyModelFolderFormatResumesExactly(string format)
    {
        using var full = new TempDir();
        using var part = new TempDir();
        var uninterrupted = Model(3);
        new Trainer(uninterrupted, Args(full.Path, 0), Data()).Train();

        new Trainer(Model(3), Args(part.Path, 3), Data()).Train();
        string ckpt = Path.Combine(part.Path, "checkpoint-3");
        string single = Path.Combine(ckpt, Checkpoint.SafeTensorsName);
        var tensors = ReadAll(single);
        File.Delete(single);
        if (format == "pytorch_model.bin") WriteTorchSave(Path.Combine(ckpt, Checkpoint.PyTorchName), tensors);
        else
        {
            // Shards of a few KB: the tiny model's tensors spread over several files named by an index.
            ShardedCheckpoint.WriteSafeTensors(ckpt, tensors, maxShardBytes: 2048);
            Assert.True(File.Exists(Path.Combine(ckpt, Checkpoint.SafeTensorsIndexName)));
            Assert.True(Directory.GetFiles(ckpt, "model-*-of-*.safetensors").Length > 1);
        }

        var resumed = Model(77); // other initial values: the checkpoint must overwrite them all
        new Trainer(resumed, Args(part.Path, 3), Data()).Train(ckpt);
        Assert.Equal(Weights(uninterrupted), Weights(resumed));
    }

    /// <summary>A torch.save archive of a state dict: one float32 storage per tensor, contiguous strides.</summary>
    private static void WriteTorchSave(string path, List<NamedTensor> tensors)
    {
        var pickle = new PickleBuilder().Op((byte)'}');
        var storages = new List<(string, byte[])>();
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, shape, data) = tensors[i];
            var stride = new int[shape.Length];
            for (int d = shape.Length - 1, s = 1; d >= 0; s *= shape[d], d--) stride[d] = s;
            string key = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            pickle.Str(name).Tensor("FloatStorage", key, data.Length, 0, shape, stride).Op((byte)'s');
            storages.Add((key, MemoryMarshal.AsBytes(data.Span).ToArray()));
        }
        PickleBuilder.WriteArchive(path, pickle.Stop(), [.. storages]);
    }
}
