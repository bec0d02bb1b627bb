namespace Finetune.Tokenizers;

/// <summary>SavePretrained: copies the files the tokenizer was loaded from into a folder (atomically, one by one).</summary>
internal static class TokenizerSaver
{
    public static void Save(PreTrainedTokenizer tokenizer, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var file in tokenizer.Files)
        {
            string target = Path.Combine(dir, Path.GetFileName(file));
            if (Path.GetFullPath(target) == Path.GetFullPath(file)) continue;
            byte[] bytes = File.ReadAllBytes(file);
            AtomicFile.WriteAllBytes(target, bytes);
        }
    }
}
