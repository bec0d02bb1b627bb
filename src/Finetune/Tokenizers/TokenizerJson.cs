namespace Finetune.Tokenizers;

/// <summary>Loads the Hugging Face tokenizers format (tokenizer.json).</summary>
internal static partial class TokenizerJson
{
    public static TokenizerPipeline Load(string path, TokenizerSettings settings) =>
        throw new FinetuneException(ErrorKind.Unsupported, $"{path}: tokenizer.json loading is not available yet");
}
