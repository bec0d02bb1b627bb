using System.Text.Json;
using System.Text.Json.Nodes;

namespace Finetune.Bench;

/// <summary>
/// Collects measurements and, with `--json FILE`, appends one JSON object per line and measurement to FILE (so
/// several commands can collect into one file), the same shape for every suite: {"suite": ..., "op"/"config": ...,
/// the figures, "peer": ..., the peer's figures}.
/// </summary>
public sealed class BenchResults
{
    private readonly List<JsonObject> _rows = new();

    public void Add(JsonObject row) => _rows.Add(row);

    public void WriteJsonLines(string path)
    {
        using var w = new StreamWriter(path, append: true);
        foreach (var row in _rows) w.WriteLine(row.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
    }
}
