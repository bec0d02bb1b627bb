using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>transformers' ACT2FN by name, for the activations these families use.</summary>
public static class Activations
{
    public static Func<Tensor, Tensor> Get(string name) => name switch
    {
        "gelu" => F.Gelu,
        // gelu_fast and gelu_pytorch_tanh are the same tanh approximation written differently.
        "gelu_new" or "gelu_fast" or "gelu_pytorch_tanh" => F.GeluNew,
        "relu" => F.Relu,
        "tanh" => F.Tanh,
        _ => throw new FinetuneException(ErrorKind.Unsupported, $"Activation '{name}' is not supported (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, relu, tanh are)."),
    };
}
