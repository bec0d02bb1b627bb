using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Finetune.Data.Arrow;

/// <summary>
/// Datasets as Arrow IPC *stream* files, the format `datasets` writes its cache and save_to_disk shards in: a schema
/// carrying the features under the `huggingface` metadata key (`{"info": {"features": {...}}}`, as datasets'
/// ArrowWriter puts them), then record batches, then the end-of-stream marker.
/// </summary>
internal static class ArrowIpc
{
    /// <summary>Rows per record batch, datasets' default writer batch size.</summary>
    public const int BatchRows = 1000;

    private static ReadOnlySpan<byte> EndOfStream => [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

    /// <summary>Writes <paramref name="ds"/> to <paramref name="path"/> (atomically).</summary>
    public static void Write(string path, Dataset ds) => AtomicFile.Write(path, s => Write(s, ds));

    public static void Write(Stream stream, Dataset ds)
    {
        var schema = SchemaOf(ds.Features);
        using var writer = new ArrowStreamWriter(stream, schema, leaveOpen: true);
        var columns = ds.Columns;
        // An empty dataset still gets one (empty) batch, as pyarrow writes for an empty table.
        for (int start = 0; start < ds.NumRows || start == 0; start += BatchRows)
        {
            int count = Math.Min(BatchRows, ds.NumRows - start);
            var arrays = new IArrowArray[columns.Count];
            int i = 0;
            foreach (var (_, type) in ds.Features)
            {
                arrays[i] = ArrowColumns.Write(columns[i], type, start, count);
                i++;
            }
            using var batch = new RecordBatch(schema, arrays, count);
            writer.WriteRecordBatch(batch);
            if (ds.NumRows == 0) break;
        }
        writer.WriteEnd();
    }

    private static Schema SchemaOf(Features features)
    {
        var b = new Schema.Builder();
        foreach (var (name, type) in features) b.Field(new Field(name, ArrowColumns.TypeOf(type), nullable: true));
        var hf = new System.Text.Json.Nodes.JsonObject
        {
            ["info"] = new System.Text.Json.Nodes.JsonObject { ["features"] = HfFeatureJson.ToJson(features) },
        };
        b.Metadata("huggingface", hf.ToJsonString());
        return b.Build();
    }

    /// <summary>
    /// Reads a stream file into a dataset. The features are <paramref name="declared"/> (dataset_info.json) when
    /// given, else those in the schema's `huggingface` metadata, else inferred from the Arrow types; each column's
    /// Arrow type must be the one its feature declares.
    /// </summary>
    public static Dataset Read(string path, List<KeyValuePair<string, HfFeature>>? declared, string? declaredIn, string fingerprint)
    {
        var (schema, batches) = ReadStream(path);
        try
        {
            var features = declared ?? FromMetadata(schema, path) ?? Inferred(schema, path);
            string from = declared != null ? $"'{declaredIn}'" : "its schema";
            var byName = new Dictionary<string, HfFeature>(StringComparer.Ordinal);
            foreach (var (name, f) in features) byName[name] = f;
            var fields = schema.FieldsList;
            var missing = byName.Keys.Where(k => schema.GetFieldIndex(k) < 0).ToList();
            if (missing.Count > 0)
                throw FinetuneException.Invalid($"'{path}' has no column {string.Join(", ", missing.Select(m => "'" + m + "'"))} although {from} declares it; the file's columns are: {string.Join(", ", fields.Select(x => x.Name))}.");
            var result = new Features();
            var cols = new List<Column>(fields.Count);
            for (int c = 0; c < fields.Count; c++)
            {
                var field = fields[c];
                if (!byName.TryGetValue(field.Name, out var f))
                    throw FinetuneException.Invalid($"'{path}' has a column '{field.Name}' that {from} does not declare (it declares {string.Join(", ", byName.Keys)}).");
                if (!ArrowColumns.Fits(field.DataType, f))
                    throw FinetuneException.Invalid($"'{path}': column '{field.Name}' is {ArrowColumns.Describe(field.DataType)} but {from} declares {(f.IsList ? "a list of " : "")}{f.Dtype}{(f.Type is ClassLabel ? " (ClassLabel)" : "")}.");
                var chunks = new IArrowArray[batches.Count];
                for (int b = 0; b < batches.Count; b++) chunks[b] = batches[b].Column(c);
                result.Add(field.Name, f.Type);
                cols.Add(ArrowColumns.Read(chunks, f, field.Name, path));
            }
            return new Dataset(result, cols, fingerprint) { SourceFiles = new[] { Path.GetFullPath(path) } };
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    /// <summary>
    /// The schema and record batches of a stream file, read from its bytes in memory (buffers are slices of them,
    /// so a length the file claims is checked against the bytes it has, never allocated).
    /// </summary>
    public static (Schema Schema, List<RecordBatch> Batches) ReadStream(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw FinetuneException.Missing($"Arrow file '{path}' does not exist.", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw FinetuneException.Missing($"Arrow file '{path}' does not exist.", e);
        }
        catch (IOException e)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read '{path}': {e.Message}", e);
        }
        if (bytes.Length >= 6 && bytes.AsSpan(0, 6).SequenceEqual("ARROW1"u8))
            throw FinetuneException.Invalid($"'{path}' is an Arrow IPC *file* (it starts with ARROW1); datasets writes and reads IPC *streams*.");
        // A stream ends with the end-of-stream marker (0xFFFFFFFF, then a zero length), which pyarrow's writer
        // always closes with; without it the file was cut short, possibly at a batch boundary the reader would
        // otherwise take for the end.
        if (bytes.Length < 8 || !bytes.AsSpan(bytes.Length - 8).SequenceEqual(EndOfStream))
            throw FinetuneException.Invalid($"'{path}' is truncated or not an Arrow IPC stream: it does not end with the end-of-stream marker.");
        var batches = new List<RecordBatch>();
        try
        {
            using var reader = new ArrowStreamReader(new ReadOnlyMemory<byte>(bytes));
            while (reader.ReadNextRecordBatch() is { } batch)
            {
                batches.Add(batch);
                if (batch.ColumnCount != reader.Schema.FieldsList.Count)
                    throw FinetuneException.Invalid($"'{path}' is damaged: a record batch has {batch.ColumnCount} columns but the schema {reader.Schema.FieldsList.Count}.");
            }
            return (reader.Schema ?? throw FinetuneException.Invalid($"'{path}' holds no Arrow schema."), batches);
        }
        catch (Exception e) when (e is not FinetuneException and not OutOfMemoryException)
        {
            foreach (var b in batches) b.Dispose();
            if (e is NotSupportedException or NotImplementedException)
                throw new FinetuneException(ErrorKind.Unsupported, $"'{path}' uses an Arrow feature that is not supported here: {e.Message}", e);
            throw FinetuneException.Invalid($"'{path}' is not a valid Arrow IPC stream: {e.Message}", e);
        }
        catch
        {
            foreach (var b in batches) b.Dispose();
            throw;
        }
    }

    private static List<KeyValuePair<string, HfFeature>>? FromMetadata(Schema schema, string path)
    {
        if (schema.Metadata == null || !schema.Metadata.TryGetValue("huggingface", out var json)) return null;
        try
        {
            using var doc = SafeJson.ParseDocument(json, $"{path} (huggingface metadata)");
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("info", out var info)
                || info.ValueKind != JsonValueKind.Object || !info.TryGetProperty("features", out var feats) || feats.ValueKind == JsonValueKind.Null)
                return null;
            return HfFeatureJson.Parse(feats, $"{path} (huggingface metadata)");
        }
        catch (JsonException e)
        {
            throw FinetuneException.Invalid($"'{path}' has invalid 'huggingface' metadata: {e.Message}", e);
        }
    }

    private static List<KeyValuePair<string, HfFeature>> Inferred(Schema schema, string path)
    {
        var r = new List<KeyValuePair<string, HfFeature>>();
        foreach (var field in schema.FieldsList)
        {
            var f = ArrowColumns.Infer(field.DataType)
                ?? throw new FinetuneException(ErrorKind.Unsupported, $"'{path}': column '{field.Name}' is {ArrowColumns.Describe(field.DataType)}, which is not supported (strings, numbers, bools and lists of ints are).");
            r.Add(new(field.Name, f));
        }
        return r;
    }
}
