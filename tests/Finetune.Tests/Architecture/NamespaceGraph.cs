using System.Reflection;
using System.Reflection.Emit;

namespace Finetune.Tests.Architecture;

/// <summary>
/// Which top-level namespaces of an assembly (Finetune.Tensors, Finetune.Nn, ...; "Finetune" for the root) use
/// which, read from the compiled types: base types, interfaces, field and signature types, and every type, method
/// and field a method body names (its IL operands). Compiler-made closures count for the type that declares them.
/// </summary>
internal sealed class NamespaceGraph
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    private readonly Assembly _assembly;
    private readonly string _root;

    private NamespaceGraph(Assembly assembly, string root)
    {
        _assembly = assembly;
        _root = root;
    }

    /// <summary>Namespace → the namespaces it uses (itself excluded).</summary>
    public Dictionary<string, HashSet<string>> Edges { get; } = new();

    /// <summary>Namespace → the methods its code calls, as "Declaring.Type.Method" (any assembly's).</summary>
    public Dictionary<string, HashSet<string>> Calls { get; } = new();

    /// <summary>Namespace → the types of other assemblies it names, as "Namespace.Type" (generic definitions, no arguments).</summary>
    public Dictionary<string, HashSet<string>> ForeignTypes { get; } = new();

    /// <summary>For each edge "A -> B", one member of A that uses B (to name in a failure).</summary>
    public Dictionary<string, string> Witness { get; } = new();

    public static NamespaceGraph Of(Assembly assembly, string root)
    {
        var g = new NamespaceGraph(assembly, root);
        foreach (var t in assembly.GetTypes()) g.AddType(t);
        return g;
    }

    public bool Uses(string from, string to) => Edges.TryGetValue(from, out var s) && s.Contains(to);

    /// <summary>The strongly connected components with more than one namespace: each is a cycle of dependencies.</summary>
    public List<List<string>> Cycles()
    {
        var nodes = Edges.Keys.Union(Edges.Values.SelectMany(v => v)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var result = new List<List<string>>();
        int next = 0;
        void Visit(string v)
        {
            index[v] = low[v] = next++;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in Edges.TryGetValue(v, out var outs) ? outs.OrderBy(x => x, StringComparer.Ordinal) : Enumerable.Empty<string>())
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new List<string>();
            string x;
            do { x = stack.Pop(); onStack.Remove(x); component.Add(x); } while (x != v);
            if (component.Count > 1) result.Add(component.OrderBy(n => n, StringComparer.Ordinal).ToList());
        }
        foreach (var n in nodes)
            if (!index.ContainsKey(n)) Visit(n);
        return result;
    }

    private string? Group(Type? t)
    {
        while (t is { HasElementType: true }) t = t.GetElementType();
        if (t == null || t.Assembly != _assembly || t.Namespace == null) return null;
        string ns = t.Namespace;
        if (ns == _root) return _root;
        if (!ns.StartsWith(_root + ".", StringComparison.Ordinal)) return null;
        int dot = ns.IndexOf('.', _root.Length + 1);
        return dot < 0 ? ns : ns[..dot];
    }

    private void Add(string from, Type? to, string where)
    {
        if (to == null) return;
        if (to.IsGenericType && !to.IsGenericTypeDefinition)
            foreach (var a in to.GetGenericArguments()) Add(from, a, where);
        AddForeign(from, to, where);
        string? target = Group(to);
        if (target == null || target == from) return;
        if (!Edges.TryGetValue(from, out var set)) Edges[from] = set = new HashSet<string>();
        if (set.Add(target)) Witness[$"{from} -> {target}"] = $"{where} uses {to.FullName}";
    }

    private void AddForeign(string from, Type to, string where)
    {
        while (to.HasElementType) to = to.GetElementType()!;
        if (to.Assembly == _assembly || to.IsGenericParameter) return;
        if (to.IsGenericType) to = to.GetGenericTypeDefinition();
        string name = $"{to.Namespace}.{to.Name}";
        if (!ForeignTypes.TryGetValue(from, out var set)) ForeignTypes[from] = set = new HashSet<string>();
        if (set.Add(name)) Witness[$"{from} uses {name}"] = where;
    }

    private void AddType(Type t)
    {
        string? from = Group(t);
        if (from == null) return;
        string name = t.FullName ?? t.Name;
        Add(from, t.BaseType, name);
        foreach (var i in t.GetInterfaces()) Add(from, i, name);
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var f in t.GetFields(All)) Add(from, f.FieldType, $"{name}.{f.Name}");
        foreach (var p in t.GetProperties(All)) Add(from, p.PropertyType, $"{name}.{p.Name}");
        foreach (var m in t.GetMethods(All).Cast<MethodBase>().Concat(t.GetConstructors(All)))
        {
            string where = $"{name}.{m.Name}";
            if (m is MethodInfo mi) Add(from, mi.ReturnType, where);
            foreach (var p in m.GetParameters()) Add(from, p.ParameterType, where);
            ScanBody(from, m, where);
        }
    }

    /// <summary>The types, methods and fields the IL of <paramref name="m"/> names.</summary>
    private void ScanBody(string from, MethodBase m, string where)
    {
        byte[]? il = m.GetMethodBody()?.GetILAsByteArray();
        if (il == null) return;
        Type[]? typeArgs = m.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
        int pos = 0;
        while (pos < il.Length)
        {
            short value = il[pos++];
            if (value == 0xFE) value = (short)(0xFE00 | il[pos++]);
            if (!OpCodesByValue.TryGetValue(value, out var op)) return;
            switch (op.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    int token = BitConverter.ToInt32(il, pos);
                    try
                    {
                        switch (m.Module.ResolveMember(token, typeArgs, methodArgs))
                        {
                            case Type ty: Add(from, ty, where); break;
                            case FieldInfo fi: Add(from, fi.DeclaringType, where); Add(from, fi.FieldType, where); break;
                            case MethodBase mb:
                                Add(from, mb.DeclaringType, where);
                                if (!Calls.TryGetValue(from, out var calls)) Calls[from] = calls = new HashSet<string>();
                                calls.Add($"{mb.DeclaringType?.FullName}.{mb.Name}");
                                if (mb is MethodInfo { IsGenericMethod: true } g)
                                    foreach (var a in g.GetGenericArguments()) Add(from, a, where);
                                break;
                        }
                    }
                    catch (ArgumentException)
                    {
                        // A token of another module's generic context: not ours.
                    }
                    pos += 4;
                    break;
                case OperandType.InlineSwitch:
                    pos += 4 + 4 * BitConverter.ToInt32(il, pos);
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    pos += 8;
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    pos += 1;
                    break;
                case OperandType.InlineVar:
                    pos += 2;
                    break;
                case OperandType.InlineNone:
                    break;
                default:
                    pos += 4;
                    break;
            }
        }
    }
}
