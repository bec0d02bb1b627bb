using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Weights;

/// <summary>
/// A checkpoint split over several files, listed by an index (`model.safetensors.index.json` or
/// `pytorch_model.bin.index.json`: {"metadata": {...}, "weight_map": {tensor: file}}).
/// </summary>
public sealed class ShardedCheckpoint : ITensorSource
{
    private readonly Dictionary<string, ITensorSource> _byTensor = new(StringComparer.Ordinal);
    private readonly List<ITensorSource> _shards = new();
    private readonly List<string> _names = new();

    private ShardedCheckpoint(string indexPath)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        JsonNode? root;
        try
        {
            root = SafeJson.ParseFile(indexPath);
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"Checkpoint index '{indexPath}' is not valid JSON ({e.Message}).", e);
        }
        if (root?["weight_map"] is not JsonObject map)
            throw FinetuneException.Invalid($"Checkpoint index '{indexPath}' has no \"weight_map\" object.");
        var opened = new Dictionary<string, ITensorSource>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, fileNode) in map)
            {
                string file = fileNode is JsonValue v && v.TryGetValue(out string? s) && s != null
                    ? s : throw FinetuneException.Invalid($"Checkpoint index '{indexPath}': the file of tensor '{tensor}' is not a string.");
                if (file.Contains('/') || file.Contains('\\') || file.Contains(".."))
                    throw FinetuneException.Invalid($"Checkpoint index '{indexPath}': tensor '{tensor}' points outside the folder ('{file}').");
                if (!opened.TryGetValue(file, out var shard))
                {
                    shard = Checkpoint.OpenFile(Path.Combine(dir, file));
                    opened[file] = shard;
                    _shards.Add(shard);
                }
                if (!shard.Contains(tensor))
                    throw FinetuneException.Invalid($"Checkpoint index '{indexPath}' puts tensor '{tensor}' in '{file}', which does not hold it.");
                _byTensor[tensor] = shard;
                _names.Add(tensor);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static ShardedCheckpoint Open(string indexPath)
    {
        if (!File.Exists(indexPath)) throw FinetuneException.Missing($"Checkpoint index '{indexPath}' does not exist.");
        return new ShardedCheckpoint(indexPath);
    }

    public IReadOnlyList<string> Names => _names;

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public TensorInfo Info(string name) => Shard(name).Info(name);

    public void CopyTo(string name, Span<float> destination) => Shard(name).CopyTo(name, destination);

    public long[] ReadInt64(string name) => Shard(name).ReadInt64(name);

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
        _shards.Clear();
    }

    private ITensorSource Shard(string name) =>
        _byTensor.TryGetValue(name, out var s) ? s : throw FinetuneException.Missing($"Tensor '{name}' is not in the sharded checkpoint.");

    /// <summary>
    /// Writes tensors in name order into shards of at most <paramref name="maxShardBytes"/> (a tensor larger than
    /// that gets a shard of its own) plus `model.safetensors.index.json`. With one shard, writes `model.safetensors` alone.
    /// Returns the paths written.
    /// </summary>
    public static IReadOnlyList<string> WriteSafeTensors(string dir, IEnumerable<NamedTensor> tensors, long maxShardBytes, DType dtype = DType.F32)
    {
        var list = new List<NamedTensor>(tensors);
        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var shards = new List<List<NamedTensor>>();
        long current = long.MaxValue;
        foreach (var t in list)
        {
            long bytes = (long)t.Data.Length * dtype.Size();
            if (shards.Count == 0 || current + bytes > maxShardBytes)
            {
                shards.Add(new List<NamedTensor>());
                current = 0;
            }
            shards[^1].Add(t);
            current += bytes;
        }
        if (shards.Count <= 1)
        {
            string single = Path.Combine(dir, Checkpoint.SafeTensorsName);
            SafeTensors.Write(single, list, dtype);
            return new[] { single };
        }
        var written = new List<string>();
        var weightMap = new JsonObject();
        long total = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            string file = SafeTensors.ShardName(i + 1, shards.Count);
            SafeTensors.Write(Path.Combine(dir, file), shards[i], dtype);
            written.Add(Path.Combine(dir, file));
            foreach (var t in shards[i])
            {
                weightMap[t.Name] = file;
                total += (long)t.Data.Length * dtype.Size();
            }
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        AtomicFile.WriteAllText(Path.Combine(dir, Checkpoint.SafeTensorsIndexName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        written.Add(Path.Combine(dir, Checkpoint.SafeTensorsIndexName));
        return written;
    }
}
