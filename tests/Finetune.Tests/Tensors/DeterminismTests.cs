using Finetune.Nn;
using Finetune.Tensors;
using Finetune.Tensors.Kernels;

namespace Finetune.Tests.Tensors;

[Collection("Parallelism")]
public class DeterminismTests
{
    /// <summary>A small encoder-shaped computation touching every op, returning the loss and all gradients.</summary>
    private static (float Loss, float[][] Grads) Step(ulong seed, bool large = false)
    {
        var rng = new Generator(seed);
        // The large variant is big enough for every kernel to split its work across threads.
        int b = 3, t = large ? 40 : 13, c = large ? 96 : 20, ffn = large ? 384 : 37, heads = 4, vocab = 31, classes = 3;
        var emb = new Embedding(vocab, c, paddingIdx: 0, rng: rng);
        var pos = new Embedding(t, c, rng: rng);
        var ln = new LayerNorm(c, 1e-12f);
        var q = new Linear(c, c, rng: rng);
        var k = new Linear(c, c, rng: rng);
        var v = new Linear(c, c, rng: rng);
        var ff = new Linear(c, ffn, rng: rng);
        var outp = new Linear(ffn, c, rng: rng);
        var cls = new Linear(c, classes, rng: rng);
        var ids = new int[b * t];
        var mask = new int[b * t];
        for (int i = 0; i < ids.Length; i++)
        {
            bool pad = i % t >= t - i / t * (t / 4);
            ids[i] = pad ? 0 : 1 + rng.NextInt(vocab - 1);
            mask[i] = pad ? 0 : 1;
        }
        var idT = IntTensor.FromArray(ids, b, t);
        var posIds = IntTensor.FromArray(Enumerable.Range(0, t).ToArray(), t);
        var drop = new Generator(seed + 1);
        var h = ln.Forward(F.Add(emb.Forward(idT), pos.Forward(posIds)));
        var att = F.MultiHeadAttention(q.Forward(h), k.Forward(h), v.Forward(h), heads, IntTensor.FromArray(mask, b, t), 0.1f, true, drop);
        h = F.Add(h, F.Dropout(att, 0.1f, true, drop));
        h = F.Add(h, outp.Forward(F.Gelu(ff.Forward(h))));
        var logits = cls.Forward(F.Tanh(F.SelectFirstToken(h)));
        var loss = F.CrossEntropy(logits, IntTensor.FromArray([0, 2, 1]), labelSmoothing: 0.1f);
        loss.Backward();
        Module[] mods = [emb, pos, ln, q, k, v, ff, outp, cls];
        return (loss.Item(), mods.SelectMany(m => m.Parameters()).Select(p => p.Grad!.ToArray()).ToArray());
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 1;
            var one = Step(21, large: true);
            Parallelism.Threads = 4;
            var four = Step(21, large: true);
            Assert.Equal(one.Loss, four.Loss);
            for (int i = 0; i < one.Grads.Length; i++) Assert.Equal(one.Grads[i], four.Grads[i]);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    [Fact]
    public void SameSeedAndThreadCountGiveIdenticalResults()
    {
        int saved = Parallelism.Threads;
        try
        {
            foreach (int threads in new[] { 1, Environment.ProcessorCount })
            {
                Parallelism.Threads = threads;
                var a = Step(7);
                var b = Step(7);
                Assert.Equal(a.Loss, b.Loss);
                Assert.Equal(a.Grads.Length, b.Grads.Length);
                for (int i = 0; i < a.Grads.Length; i++) Assert.Equal(a.Grads[i], b.Grads[i]);
                Assert.NotEqual(a.Loss, Step(8).Loss);
            }
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}

[Collection("Parallelism")]
public class ParallelismTests
{
    [Fact]
    public void ThreadsMustBePositive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.Threads = 0);
    }

    [Fact]
    public void ForCoversEveryIndexOnceAndNestedCallsRunInline()
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 4;
            var hits = new int[1003];
            Parallelism.For(hits.Length, 7, (b, e) =>
            {
                Assert.Equal(0, b % 7);
                for (int i = b; i < e; i++)
                    Parallelism.For(3, (b2, e2) => Interlocked.Add(ref hits[i], e2 - b2));
            });
            Assert.All(hits, h => Assert.Equal(3, h));
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    [Fact]
    public void AnExceptionInAWorkerReachesTheCaller()
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 2;
            var e = Assert.Throws<InvalidOperationException>(() => Parallelism.Run(2, p =>
            {
                if (p == 1) throw new InvalidOperationException("part 1 failed");
            }));
            Assert.Equal("part 1 failed", e.Message);
            // The pool still works afterwards.
            int sum = 0;
            Parallelism.Run(2, p => Interlocked.Add(ref sum, p + 1));
            Assert.Equal(3, sum);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}
