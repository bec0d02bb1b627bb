using System.Collections;
using System.Text.Json;
using Finetune.Data;
using Finetune.Tokenizers;

namespace Finetune.Tests.Data;

public class BatchingTests
{
    private static Dataset Tokenized(params int[][] rows) => Dataset.FromDict(new Dictionary<string, IList>
    {
        ["input_ids"] = rows,
        ["label"] = Enumerable.Range(0, rows.Length).Select(i => (long)(i % 2)).ToArray(),
    });

    [Fact]
    public void PadsToLongestWithMaskAndMultipleOf()
    {
        var ds = Tokenized([101, 7, 102], [101, 102], [101, 5, 6, 7, 102]);
        var b = new DataCollatorWithPadding(padTokenId: 0).Collate(ds, [0, 1]);
        Assert.Equal((2, 3), (b.BatchSize, b.SeqLen));
        Assert.Equal(new[] { 101, 7, 102, 101, 102, 0 }, b.InputIds);
        Assert.Equal(new[] { 1, 1, 1, 1, 1, 0 }, b.AttentionMask);
        Assert.Equal(new[] { 0, 1 }, b.Labels);
        b = new DataCollatorWithPadding(1, padToMultipleOf: 4).Collate(ds, [1, 2]);
        Assert.Equal(8, b.SeqLen);
        Assert.Equal(new[] { 101, 102, 1, 1, 1, 1, 1, 1, 101, 5, 6, 7, 102, 1, 1, 1 }, b.InputIds);
        b = new DataCollatorWithPadding(0, PaddingStrategy.MaxLength, maxLength: 6, paddingSide: PaddingSide.Left).Collate(ds, [0]);
        Assert.Equal(new[] { 0, 0, 0, 101, 7, 102 }, b.InputIds);
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1 }, b.AttentionMask);
        var e = Assert.Throws<FinetuneException>(() => new DataCollatorWithPadding(0, PaddingStrategy.MaxLength, maxLength: 4).Collate(ds, [2]));
        Assert.Contains("truncation", e.Message);
    }

    [Fact]
    public void FloatLabelsForRegression()
    {
        var ds = Dataset.FromDict(new Dictionary<string, IList> { ["input_ids"] = new[] { new[] { 1, 2 }, new[] { 3 } }, ["labels"] = new[] { 4.5f, 0.25f } });
        var b = new DataCollatorWithPadding(0).Collate(ds, [0, 1]);
        Assert.Null(b.Labels);
        Assert.Equal(new[] { 4.5f, 0.25f }, b.FloatLabels);
    }

    /// <summary>The golden HF Trainer run: sequential batches of 16 padded to the longest row have its batch shapes.</summary>
    [SkippableFact]
    public void SequentialBatchesMatchTheGoldenTrainerShapes()
    {
        string data = SharedData.Require("golden/training/data/train.jsonl");
        string steps = SharedData.Require("golden/training/bs16_e2/steps_exact.json");
        var ds = Dataset.FromFile(data);
        var loader = new DataLoader(ds, new DataCollatorWithPadding(0), batchSize: 16);
        var shapes = loader.Select(b => (b.BatchSize, b.SeqLen)).ToList();
        using var doc = JsonDocument.Parse(File.ReadAllText(steps));
        var expected = doc.RootElement.EnumerateArray().Take(loader.Count)
            .Select(s => s.GetProperty("micro_batches")[0].GetProperty("batch_shape"))
            .Select(a => (a[0].GetInt32(), a[1].GetInt32())).ToList();
        Assert.Equal(32, loader.Count);
        Assert.Equal(expected, shapes);
        var first = loader.First();
        Assert.Equal(ds.GetIntLists("input_ids")[0]!, first.InputIds.Take(ds.GetIntLists("input_ids")[0]!.Length));
        Assert.Equal(ds.GetInts("label").Take(16), first.Labels!);
    }

    [Fact]
    public void RandomAndLengthGroupedSamplersAreSeededAndCoverEveryRow()
    {
        var rows = Enumerable.Range(0, 203).Select(i => Enumerable.Repeat(1, 1 + (i * 37) % 50).ToArray()).ToArray();
        var ds = Tokenized(rows);
        var collator = new DataCollatorWithPadding(0);
        foreach (var kind in new[] { SamplerKind.Random, SamplerKind.LengthGrouped })
        {
            var a = new DataLoader(ds, collator, 8, kind, seed: 42);
            var b = new DataLoader(ds, collator, 8, kind, seed: 42, prefetch: 0);
            var rowsA = a.SelectMany(x => x.RowIndices).ToArray();
            Assert.Equal(rowsA, b.SelectMany(x => x.RowIndices));
            Assert.Equal(Enumerable.Range(0, 203), rowsA.Order());
            a.Epoch = 1;
            Assert.NotEqual(rowsA, a.SelectMany(x => x.RowIndices));
        }
        var dropped = new DataLoader(ds, collator, 8, SamplerKind.Random, seed: 1, dropLast: true);
        Assert.Equal(25, dropped.Count());
        Assert.All(dropped, x => Assert.Equal(8, x.BatchSize));
        Assert.Equal(new NumpyRandom(1).Permutation(203)[..200], dropped.SelectMany(x => x.RowIndices));
    }

    [Fact]
    public void LengthGroupedPutsTheLongestRowFirstAndSortsMegabatches()
    {
        // 40 rows, batch 2 -> megabatches of min(40/8, 50) = 5 batches = 10 rows, each sorted by length descending.
        int[] lengths = Enumerable.Range(0, 40).Select(i => (i * 7) % 23 + 1).ToArray();
        int[] order = DataLoader.LengthGroupedIndices(lengths, 2, new NumpyRandom(3));
        int[] perm = new NumpyRandom(3).Permutation(40);
        Assert.Equal(lengths.Max(), lengths[order[0]]);
        int maxIdx = Enumerable.Range(0, 4).First(m => perm.Skip(m * 10).Take(10).Max(i => lengths[i]) == lengths.Max());
        for (int m = 0; m < 4; m++)
        {
            var chunk = order.Skip(m * 10).Take(10).ToArray();
            if (m != 0 && m != maxIdx) Assert.Equal(perm.Skip(m * 10).Take(10).Order(), chunk.Order());
            var tail = chunk.Skip(1).Select(i => lengths[i]).ToArray();
            Assert.Equal(tail.OrderDescending(), tail);
        }
    }

    [Fact]
    public void ReplicasIterateTheirDistributedSamplerShare()
    {
        // torch's DistributedSampler: 10 rows over 4 ranks -> 3 each, padded from the start; rank 2 gets 2, 6, 0.
        var ds = Tokenized(Enumerable.Range(0, 10).Select(i => new[] { 101, i + 1, 102 }).ToArray());
        var collator = new DataCollatorWithPadding(0);
        var rank2 = new DataLoader(ds, collator, 2, prefetch: 0) { NumReplicas = 4, Rank = 2 };
        Assert.Equal(3, rank2.NumRows);
        Assert.Equal(2, rank2.Count);
        Assert.Equal(new[] { 2, 6, 0 }, rank2.SelectMany(b => b.RowIndices));
        Assert.Equal(new[] { 0 }, rank2.BatchAt(1).RowIndices);
        // A shuffled epoch: every rank cuts its share from the same permutation.
        var whole = new DataLoader(ds, collator, 2, SamplerKind.Random, seed: 5) { Epoch = 3 }.Order();
        var rank1 = new DataLoader(ds, collator, 2, SamplerKind.Random, seed: 5, dropLast: true) { NumReplicas = 4, Rank = 1, Epoch = 3 };
        Assert.Equal(new[] { whole[1], whole[5], whole[9] }, rank1.Order());
        Assert.Equal(1, rank1.Count);
    }

    [Fact]
    public void LengthGroupingUsesItsOwnBatchSizeAndGivenLengths()
    {
        // transformers' Trainer groups by train_batch_size × gradient_accumulation_steps and reads a `length` column.
        int[] lengths = Enumerable.Range(0, 120).Select(i => (i * 11) % 37 + 1).ToArray();
        var ds = Tokenized(lengths.Select(l => Enumerable.Repeat(7, l).ToArray()).ToArray());
        var loader = new DataLoader(ds, new DataCollatorWithPadding(0), 4, SamplerKind.LengthGrouped, seed: 9) { LengthGroupingBatchSize = 8, Epoch = 1 };
        Assert.Equal(DataLoader.LengthGroupedIndices(lengths, 8, new NumpyRandom(10)), loader.Order());
        int[] given = lengths.Select(l => 40 - l).ToArray();
        var byColumn = new DataLoader(ds, new DataCollatorWithPadding(0), 4, SamplerKind.LengthGrouped, seed: 9) { Lengths = given };
        Assert.Equal(DataLoader.LengthGroupedIndices(given, 4, new NumpyRandom(9)), byColumn.Order());
    }
}
