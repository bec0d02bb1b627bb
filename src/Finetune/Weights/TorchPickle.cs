using System.IO.Compression;

namespace Finetune.Weights;

/// <summary>
/// Reads a `torch.save` zip checkpoint (pytorch_model.bin: `&lt;name&gt;/data.pkl` + `&lt;name&gt;/data/N` storages)
/// without executing anything: the pickle is parsed and only what a state dict needs is accepted
/// (OrderedDict, `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`, storage types, dtype markers), as
/// `torch.load(weights_only=True)` does. Any other global or opcode is refused with an error naming it.
/// </summary>
public static class TorchPickle
{
    internal static readonly Dictionary<string, DType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = DType.F32,
        ["HalfStorage"] = DType.F16,
        ["BFloat16Storage"] = DType.BF16,
        ["DoubleStorage"] = DType.F64,
        ["LongStorage"] = DType.I64,
        ["IntStorage"] = DType.I32,
        ["ShortStorage"] = DType.I16,
        ["CharStorage"] = DType.I8,
        ["ByteStorage"] = DType.U8,
        ["BoolStorage"] = DType.Bool,
    };

    private static readonly HashSet<string> DTypeMarkers = new(StringComparer.Ordinal)
    {
        "float32", "float", "float16", "half", "bfloat16", "float64", "double",
        "int64", "long", "int32", "int", "int16", "short", "int8", "uint8", "bool",
    };

    private static readonly HashSet<string> Callables = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch.Size",
    };

    /// <summary>Opens <paramref name="path"/> and parses its pickle; tensor data is read on demand.</summary>
    public static TorchCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw FinetuneException.Missing($"PyTorch checkpoint '{path}' does not exist.");
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw FinetuneException.Invalid(LooksLikeLegacyPickle(path)
                ? $"'{path}' is in the legacy torch.save format (before PyTorch 1.6), which is not supported; re-save it with a current PyTorch or as safetensors."
                : $"'{path}' is not a readable torch.save zip archive (truncated or corrupt: {e.Message}).", e);
        }
        catch (IOException e)
        {
            throw new FinetuneException(ErrorKind.Io, $"Could not read '{path}': {e.Message}", e);
        }
        try
        {
            return Parse(path, zip);
        }
        catch (InvalidDataException e)
        {
            zip.Dispose();
            throw FinetuneException.Invalid($"'{path}' is a corrupt torch.save archive: {e.Message}", e);
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    private static TorchCheckpoint Parse(string path, ZipArchive zip)
    {
        ZipArchiveEntry? pkl = null;
        foreach (var e in zip.Entries)
        {
            if (e.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
            {
                if (pkl != null) throw FinetuneException.Invalid($"'{path}' holds more than one data.pkl.");
                pkl = e;
            }
        }
        if (pkl == null) throw FinetuneException.Invalid($"'{path}' is a zip archive without a data.pkl, so not a torch.save checkpoint.");
        string prefix = pkl.FullName[..^"data.pkl".Length];
        bool bigEndian = false;
        var order = zip.GetEntry(prefix + "byteorder");
        if (order != null)
        {
            using var r = new StreamReader(order.Open());
            string text = r.ReadToEnd().Trim();
            bigEndian = text == "big";
            if (!bigEndian && text != "little") throw FinetuneException.Invalid($"'{path}' has an unknown byteorder '{text}'.");
        }
        if (pkl.Length > int.MaxValue) throw FinetuneException.Invalid($"'{path}': data.pkl is too large for a state dict.");
        byte[] pickle = new byte[pkl.Length];
        using (var s = pkl.Open()) s.ReadExactly(pickle);

        var reader = new PickleReader
        {
            Source = path,
            ResolveGlobal = (module, name) => ResolveGlobal(path, module, name),
            Call = (callable, args) => Call(path, callable, args),
            PersistentLoad = pid => PersistentLoad(path, pid),
        };
        object? root = reader.Load(pickle);
        if (root is not PyDict dict) throw FinetuneException.Invalid($"'{path}' does not hold a state dict (its pickle is a {root?.GetType().Name ?? "None"}).");
        var tensors = new List<(string, TorchTensorRef)>();
        foreach (var (key, value) in dict.Items)
        {
            if (value is not TorchTensorRef t) continue; // non-tensor entries (e.g. a version number) are not weights
            if (key is not string name) throw FinetuneException.Invalid($"'{path}' has a tensor under a non-string key '{key}'.");
            tensors.Add((name, t));
        }
        return new TorchCheckpoint(path, zip, prefix, bigEndian, tensors);
    }

    private static object ResolveGlobal(string path, string module, string name)
    {
        string full = module + "." + name;
        bool ok = Callables.Contains(full)
            || (module == "torch" && (StorageTypes.ContainsKey(name) || DTypeMarkers.Contains(name)));
        if (!ok)
            throw FinetuneException.Invalid($"Refusing to load '{path}': its pickle references the global '{full}', which a state dict never needs (only tensors, storages and OrderedDict are allowed).");
        return new PyGlobal(module, name);
    }

    private static object? Call(string path, object callable, object?[] args)
    {
        if (callable is not PyGlobal g) throw FinetuneException.Invalid($"Refusing to load '{path}': its pickle calls something that is not an allowed global.");
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                if (args.Length != 0) throw FinetuneException.Invalid($"Refusing to load '{path}': OrderedDict is built with arguments.");
                return new PyDict();
            case "torch.Size":
                return args.Length == 1 && args[0] is object?[] dims ? dims : throw FinetuneException.Invalid($"'{path}': torch.Size with unexpected arguments.");
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                return args.Length >= 1 && args[0] is TorchTensorRef t ? t : throw FinetuneException.Invalid($"'{path}': a Parameter is rebuilt from something that is not a tensor.");
            case "torch._utils._rebuild_tensor_v2":
                return RebuildTensor(path, args);
            default:
                throw FinetuneException.Invalid($"Refusing to load '{path}': its pickle calls '{g.FullName}', which a state dict never needs.");
        }
    }

    /// <summary>_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).</summary>
    private static TorchTensorRef RebuildTensor(string path, object?[] args)
    {
        if (args.Length < 4 || args[0] is not TorchStorageRef storage || args[1] is not long offset
            || args[2] is not object?[] size || args[3] is not object?[] stride || size.Length != stride.Length)
            throw FinetuneException.Invalid($"'{path}': _rebuild_tensor_v2 is called with unexpected arguments.");
        var shape = new int[size.Length];
        var strides = new long[size.Length];
        for (int i = 0; i < size.Length; i++)
        {
            if (size[i] is not long d || d < 0 || d > int.MaxValue || stride[i] is not long st || st < 0)
                throw FinetuneException.Invalid($"'{path}': a tensor of storage {storage.Key} has an invalid size or stride.");
            shape[i] = (int)d;
            strides[i] = st;
        }
        long extent = 0;
        bool empty = false;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0) empty = true;
            extent += (shape[i] - 1L) * strides[i];
        }
        if (offset < 0 || (!empty && offset + extent >= storage.Numel))
            throw FinetuneException.Invalid($"'{path}': a tensor of shape [{string.Join(", ", shape)}] at offset {offset} reaches past the end of storage {storage.Key} ({storage.Numel} elements).");
        return new TorchTensorRef(storage, offset, shape, strides);
    }

    /// <summary>Persistent id ('storage', storage_type, key, location, numel) → a reference to data/key.</summary>
    private static object PersistentLoad(string path, object? pid)
    {
        if (pid is object?[] t && t.Length == 5 && t[0] is "storage" && t[1] is PyGlobal type && t[2] is string key && t[4] is long numel
            && type.Module == "torch" && StorageTypes.TryGetValue(type.Name, out DType dtype) && numel >= 0)
        {
            if (key.Contains('/') || key.Contains('\\') || key.Contains(".."))
                throw FinetuneException.Invalid($"'{path}': storage key '{key}' is not a plain name.");
            return new TorchStorageRef(key, dtype, numel);
        }
        throw FinetuneException.Invalid($"Refusing to load '{path}': its pickle has a persistent id that is not a tensor storage.");
    }

    private static bool LooksLikeLegacyPickle(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            return f.ReadByte() == 0x80 && f.ReadByte() == 0x02;
        }
        catch (IOException)
        {
            return false;
        }
    }
}

internal sealed record TorchStorageRef(string Key, DType DType, long Numel);

internal sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, int[] Shape, long[] Strides);
