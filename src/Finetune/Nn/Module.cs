using Finetune.Tensors;

namespace Finetune.Nn;

/// <summary>
/// Base of every layer and model: registers parameters and sub-modules under names so that
/// <see cref="NamedParameters"/> yields PyTorch's dotted checkpoint names
/// (<c>encoder.layer.0.attention.self.query.weight</c>), and carries the train/eval switch.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Module Module)> _children = new();
    private readonly List<(string Name, Tensor Value)> _parameters = new();

    /// <summary>True in training mode (dropout active); set by <see cref="Train"/> / <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Adds <paramref name="module"/> as a child called <paramref name="name"/> and returns it.</summary>
    protected T Register<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name);
        _children.Add((name, module));
        module.Train(Training);
        return module;
    }

    /// <summary>Creates a zero-filled parameter (a leaf with RequiresGrad) called <paramref name="name"/>.</summary>
    protected Tensor Parameter(string name, params int[] shape) => Parameter(name, Tensor.Zeros(shape));

    /// <summary>Registers an existing tensor as a parameter (sets RequiresGrad) and returns it.</summary>
    protected Tensor Parameter(string name, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.IsLeaf) throw new ArgumentException($"Parameter '{name}' must be a leaf tensor, not the output of an op.");
        CheckName(name);
        value.RequiresGrad = true;
        value.Persistent = true;
        _parameters.Add((name, value));
        return value;
    }

    /// <summary>
    /// Puts <paramref name="replacement"/> where the child <paramref name="name"/> was (PyTorch's setattr on a
    /// submodule, as peft does to insert adapters): under the same name, and in every field of this module that held
    /// the old child, so the module's own code (its properties) calls the new one. Returns the old child.
    /// </summary>
    public Module ReplaceChild(string name, Module replacement)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        int index = _children.FindIndex(c => c.Name == name);
        if (index < 0) throw new ArgumentException($"{GetType().Name} has no child '{name}'.");
        Module old = _children[index].Module;
        const System.Reflection.BindingFlags Fields = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public
            | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly;
        for (Type? t = GetType(); t != null && t != typeof(Module); t = t.BaseType)
            foreach (var field in t.GetFields(Fields))
                if (ReferenceEquals(field.GetValue(this), old))
                {
                    if (!field.FieldType.IsInstanceOfType(replacement))
                        throw new ArgumentException($"{GetType().Name}.{field.Name} holds a {field.FieldType.Name}; a {replacement.GetType().Name} cannot replace '{name}'.");
                    field.SetValue(this, replacement);
                }
        _children[index] = (name, replacement);
        replacement.Train(Training);
        return old;
    }

    /// <summary>Direct sub-modules in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    /// <summary>Every parameter with its dotted name, each tensor once (the first name of a shared tensor), like torch.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedParameters()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, t) in m._parameters)
            {
                if (!seen.Add(t)) continue;
                string full = prefix.Length == 0 ? name : prefix + "." + name;
                t.Name ??= full;
                yield return (full, t);
            }
    }

    public IEnumerable<Tensor> Parameters()
    {
        foreach (var (_, t) in NamedParameters()) yield return t;
    }

    /// <summary>This module (name "") and every descendant with its dotted name, each once, depth-first like torch.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules()
    {
        var seen = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        var result = new List<(string, Module)>();
        Collect("", this, seen, result);
        return result;
    }

    private static void Collect(string prefix, Module m, HashSet<Module> seen, List<(string, Module)> result)
    {
        if (!seen.Add(m)) return;
        result.Add((prefix, m));
        foreach (var (name, child) in m._children) Collect(prefix.Length == 0 ? name : prefix + "." + name, child, seen, result);
    }

    /// <summary>Switches this module and all descendants to training (or evaluation) mode.</summary>
    public virtual void Train(bool on = true)
    {
        Training = on;
        foreach (var (_, c) in _children) c.Train(on);
    }

    public void Eval() => Train(false);

    /// <summary>Clears the gradient of every parameter (Grad becomes null, like torch's set_to_none).</summary>
    public void ZeroGrad()
    {
        foreach (var t in Parameters()) t.ZeroGrad();
    }

    /// <summary>Total number of parameter elements.</summary>
    public long NumParameters()
    {
        long n = 0;
        foreach (var t in Parameters()) n += t.Length;
        return n;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("Module and parameter names must not be empty.");
        foreach (var (n, _) in _children)
            if (n == name) throw new ArgumentException($"'{name}' is already registered in {GetType().Name}.");
        foreach (var (n, _) in _parameters)
            if (n == name) throw new ArgumentException($"'{name}' is already registered in {GetType().Name}.");
    }
}

/// <summary>An indexed list of modules named "0", "1", ... (torch.nn.ModuleList).</summary>
public sealed class ModuleList<T> : Module, IReadOnlyList<T> where T : Module
{
    private readonly List<T> _items = new();

    public ModuleList(IEnumerable<T>? items = null)
    {
        if (items != null)
            foreach (var m in items) Add(m);
    }

    public void Add(T module) => _items.Add(Register(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module));

    public T this[int index] => _items[index];

    public int Count => _items.Count;

    public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
