using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Finetune.Hub;

namespace Finetune.Onnx;

/// <summary>
/// Gives the Hub's packaged-model cache its converter. The Hub resolves names below the model classes, and the
/// ONNX importer builds on them, so the importer registers itself with the Hub rather than the Hub naming it.
/// </summary>
internal static class PackagedModelConversion
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "Registers a converter inside this library before any of its code runs; loads nothing and reads no state.")]
    internal static void Register() =>
        PackagedModelCache.Converter = (onnx, vocab, outputDir, configJson) => OnnxImport.ToPretrainedFolder(onnx, vocab, outputDir, configJson);
}
