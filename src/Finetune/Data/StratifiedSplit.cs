namespace Finetune.Data;

/// <summary>
/// HF `train_test_split(stratify_by_column=...)`: the first split of its stratified shuffle split (sklearn's
/// StratifiedShuffleSplit with `_approximate_mode`), drawing from the same numpy generator in the same order.
/// </summary>
internal static class StratifiedSplit
{
    public static (int[] Train, int[] Test) Indices(int[] labels, int nTrain, int nTest, NumpyRandom rng)
    {
        int[] classes = labels.Distinct().Order().ToArray();
        var classOf = new Dictionary<int, int>();
        for (int i = 0; i < classes.Length; i++) classOf[classes[i]] = i;
        var counts = new long[classes.Length];
        var members = new List<int>[classes.Length];
        for (int i = 0; i < classes.Length; i++) members[i] = new List<int>();
        for (int i = 0; i < labels.Length; i++)
        {
            int c = classOf[labels[i]];
            counts[c]++;
            members[c].Add(i);
        }
        if (counts.Min() < 2) throw FinetuneException.Invalid("Stratified split needs at least 2 rows of every class, but one class has fewer.");
        if (nTrain < classes.Length || nTest < classes.Length)
            throw FinetuneException.Invalid($"Stratified split needs at least as many train and test rows as classes ({classes.Length}).");
        long[] nI = ApproximateMode(counts, nTrain, rng);
        long[] remaining = counts.Zip(nI, (a, b) => a - b).ToArray();
        long[] tI = ApproximateMode(remaining, nTest, rng);
        var train = new List<int>();
        var test = new List<int>();
        for (int c = 0; c < classes.Length; c++)
        {
            int[] perm = rng.Permutation((int)counts[c]);
            for (int k = 0; k < nI[c]; k++) train.Add(members[c][perm[k]]);
            for (long k = nI[c]; k < nI[c] + tI[c]; k++) test.Add(members[c][perm[k]]);
        }
        int[] tr = train.ToArray(), te = test.ToArray();
        rng.Shuffle(tr);
        rng.Shuffle(te);
        return (tr, te);
    }

    /// <summary>sklearn `_approximate_mode`: per-class draws closest to the proportions, ties broken at random.</summary>
    internal static long[] ApproximateMode(long[] classCounts, int nDraws, NumpyRandom rng)
    {
        double total = classCounts.Sum();
        var continuous = new double[classCounts.Length];
        var floored = new long[classCounts.Length];
        double flooredSum = 0;
        for (int i = 0; i < continuous.Length; i++)
        {
            continuous[i] = classCounts[i] / total * nDraws;
            floored[i] = (long)Math.Floor(continuous[i]);
            flooredSum += Math.Floor(continuous[i]);
        }
        long needToAdd = (long)(nDraws - flooredSum);
        if (needToAdd > 0)
        {
            var remainder = new double[continuous.Length];
            for (int i = 0; i < remainder.Length; i++) remainder[i] = continuous[i] - Math.Floor(continuous[i]);
            foreach (double value in remainder.Distinct().OrderDescending())
            {
                int[] inds = Enumerable.Range(0, remainder.Length).Where(i => remainder[i] == value).ToArray();
                int addNow = (int)Math.Min(inds.Length, needToAdd);
                foreach (long pick in rng.ChoiceWithoutReplacement(inds.Length, addNow)) floored[inds[pick]]++;
                needToAdd -= addNow;
                if (needToAdd == 0) break;
            }
        }
        return floored;
    }
}
