using System.Buffers.Binary;
using System.Text;

namespace Finetune.Weights;

/// <summary>A global (module.name) that the pickle referenced and the allow-list accepted.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public string FullName => Module + "." + Name;
}

/// <summary>
/// A pickle *parser*: it walks the opcodes and builds plain values (strings, numbers, tuples as object?[],
/// lists, ordered dicts) without importing or calling anything. Globals go through <see cref="ResolveGlobal"/>,
/// calls (REDUCE) through <see cref="Call"/> and persistent ids through <see cref="PersistentLoad"/>: the caller
/// decides what is allowed, and everything else is refused with an error naming the opcode or global.
/// </summary>
internal sealed class PickleReader
{
    private static readonly object Mark = new();

    public required Func<string, string, object> ResolveGlobal { get; init; }
    public required Func<object, object?[], object?> Call { get; init; }
    public required Func<object?, object> PersistentLoad { get; init; }
    public required string Source { get; init; }

    public object? Load(ReadOnlySpan<byte> data)
    {
        var stack = new List<object?>();
        var memo = new Dictionary<long, object?>();
        int pos = 0;
        while (true)
        {
            if (pos >= data.Length) throw Bad("the pickle ends without a STOP opcode");
            int at = pos;
            byte op = data[pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    Need(data, pos, 1, at);
                    if (data[pos] > 5) throw Bad($"pickle protocol {data[pos]} is not supported");
                    pos++;
                    break;
                case 0x95: // FRAME (protocol 4): an 8-byte frame length, nothing to do for an in-memory parse
                    Need(data, pos, 8, at);
                    pos += 8;
                    break;
                case (byte)'.': // STOP
                    if (stack.Count != 1) throw Bad($"the pickle stops with {stack.Count} values on the stack instead of one");
                    return stack[0];
                case (byte)'(':
                    stack.Add(Mark);
                    break;
                case (byte)'}':
                    stack.Add(new PyDict());
                    break;
                case (byte)']':
                    stack.Add(new List<object?>());
                    break;
                case (byte)')':
                    stack.Add(Array.Empty<object?>());
                    break;
                case (byte)'N':
                    stack.Add(null);
                    break;
                case 0x88:
                    stack.Add(true);
                    break;
                case 0x89:
                    stack.Add(false);
                    break;
                case (byte)'t':
                    stack.Add(PopToMark(stack, at).ToArray());
                    break;
                case 0x85:
                    stack.Add(new[] { Pop(stack, at) });
                    break;
                case 0x86:
                    {
                        object? b = Pop(stack, at), a = Pop(stack, at);
                        stack.Add(new[] { a, b });
                        break;
                    }
                case 0x87:
                    {
                        object? c = Pop(stack, at), b = Pop(stack, at), a = Pop(stack, at);
                        stack.Add(new[] { a, b, c });
                        break;
                    }
                case (byte)'J':
                    Need(data, pos, 4, at);
                    stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(data.Slice(pos)));
                    pos += 4;
                    break;
                case (byte)'K':
                    Need(data, pos, 1, at);
                    stack.Add((long)data[pos++]);
                    break;
                case (byte)'M':
                    Need(data, pos, 2, at);
                    stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(pos)));
                    pos += 2;
                    break;
                case 0x8a: // LONG1: little-endian two's complement of n bytes
                    {
                        Need(data, pos, 1, at);
                        int n = data[pos++];
                        Need(data, pos, n, at);
                        if (n > 8) throw Bad($"integer of {n} bytes at byte {at} is too large");
                        long v = 0;
                        for (int i = n - 1; i >= 0; i--) v = (v << 8) | data[pos + i];
                        if (n > 0 && n < 8 && (data[pos + n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                        stack.Add(v);
                        pos += n;
                        break;
                    }
                case (byte)'G':
                    Need(data, pos, 8, at);
                    stack.Add(BinaryPrimitives.ReadDoubleBigEndian(data.Slice(pos)));
                    pos += 8;
                    break;
                case (byte)'X':
                    {
                        Need(data, pos, 4, at);
                        uint n = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(pos));
                        pos += 4;
                        stack.Add(ReadString(data, ref pos, n, at));
                        break;
                    }
                case 0x8c: // SHORT_BINUNICODE
                    {
                        Need(data, pos, 1, at);
                        uint n = data[pos++];
                        stack.Add(ReadString(data, ref pos, n, at));
                        break;
                    }
                case (byte)'U': // SHORT_BINSTRING (protocol-2 str of Python 2; decoded as latin-1 text)
                    {
                        Need(data, pos, 1, at);
                        int n = data[pos++];
                        Need(data, pos, n, at);
                        stack.Add(Encoding.Latin1.GetString(data.Slice(pos, n)));
                        pos += n;
                        break;
                    }
                case (byte)'C': // SHORT_BINBYTES
                    {
                        Need(data, pos, 1, at);
                        int n = data[pos++];
                        Need(data, pos, n, at);
                        stack.Add(data.Slice(pos, n).ToArray());
                        pos += n;
                        break;
                    }
                case (byte)'B': // BINBYTES
                    {
                        Need(data, pos, 4, at);
                        int n = BinaryPrimitives.ReadInt32LittleEndian(data.Slice(pos));
                        pos += 4;
                        if (n < 0) throw Bad($"negative length at byte {at}");
                        Need(data, pos, n, at);
                        stack.Add(data.Slice(pos, n).ToArray());
                        pos += n;
                        break;
                    }
                case (byte)'c': // GLOBAL "module\nname\n"
                    {
                        string module = ReadLine(data, ref pos, at);
                        string name = ReadLine(data, ref pos, at);
                        stack.Add(ResolveGlobal(module, name));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        object? name = Pop(stack, at), module = Pop(stack, at);
                        if (module is not string m || name is not string n) throw Bad($"STACK_GLOBAL at byte {at} needs two strings");
                        stack.Add(ResolveGlobal(m, n));
                        break;
                    }
                case (byte)'q':
                    Need(data, pos, 1, at);
                    memo[data[pos++]] = Peek(stack, at);
                    break;
                case (byte)'r':
                    Need(data, pos, 4, at);
                    memo[BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(pos))] = Peek(stack, at);
                    pos += 4;
                    break;
                case 0x94: // MEMOIZE
                    memo[memo.Count] = Peek(stack, at);
                    break;
                case (byte)'h':
                    Need(data, pos, 1, at);
                    stack.Add(GetMemo(memo, data[pos++], at));
                    break;
                case (byte)'j':
                    Need(data, pos, 4, at);
                    stack.Add(GetMemo(memo, BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(pos)), at));
                    pos += 4;
                    break;
                case (byte)'a':
                    {
                        object? v = Pop(stack, at);
                        AsList(Peek(stack, at), at).Add(v);
                        break;
                    }
                case (byte)'e':
                    {
                        var items = PopToMark(stack, at);
                        AsList(Peek(stack, at), at).AddRange(items);
                        break;
                    }
                case (byte)'s':
                    {
                        object? v = Pop(stack, at), k = Pop(stack, at);
                        AsDict(Peek(stack, at), at).Set(k, v, this, at);
                        break;
                    }
                case (byte)'u':
                    {
                        var items = PopToMark(stack, at);
                        if (items.Count % 2 != 0) throw Bad($"SETITEMS at byte {at} has an odd number of values");
                        var d = AsDict(Peek(stack, at), at);
                        for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1], this, at);
                        break;
                    }
                case (byte)'R': // REDUCE: the callable must be an allow-listed global; the caller builds the value
                    {
                        object? args = Pop(stack, at), callable = Pop(stack, at);
                        if (args is not object?[] tuple) throw Bad($"REDUCE at byte {at} has arguments that are not a tuple");
                        if (callable == null) throw Bad($"REDUCE at byte {at} calls None");
                        stack.Add(Call(callable, tuple));
                        break;
                    }
                case (byte)'b': // BUILD: object state (a state dict's _metadata, tensor attributes) is not needed
                    {
                        Pop(stack, at);
                        Peek(stack, at);
                        break;
                    }
                case (byte)'Q':
                    stack.Add(PersistentLoad(Pop(stack, at)));
                    break;
                default:
                    throw Bad($"opcode {Describe(op)} at byte {at} is not allowed in a weights file");
            }
        }
    }

    private static string Describe(byte op) => op is >= 0x20 and < 0x7f ? $"'{(char)op}' (0x{op:x2})" : $"0x{op:x2}";

    private FinetuneException Bad(string what) => FinetuneException.Invalid($"Refusing to load '{Source}': {what}.");

    private void Need(ReadOnlySpan<byte> data, int pos, long n, int at)
    {
        if (pos + n > data.Length) throw Bad($"the pickle is truncated inside the opcode at byte {at}");
    }

    private string ReadString(ReadOnlySpan<byte> data, ref int pos, uint n, int at)
    {
        Need(data, pos, n, at);
        string s = Encoding.UTF8.GetString(data.Slice(pos, (int)n));
        pos += (int)n;
        return s;
    }

    private string ReadLine(ReadOnlySpan<byte> data, ref int pos, int at)
    {
        int end = data.Slice(pos).IndexOf((byte)'\n');
        if (end < 0) throw Bad($"the GLOBAL at byte {at} is not terminated");
        string s = Encoding.UTF8.GetString(data.Slice(pos, end));
        pos += end + 1;
        return s;
    }

    private object? Pop(List<object?> stack, int at)
    {
        if (stack.Count == 0 || ReferenceEquals(stack[^1], Mark)) throw Bad($"stack underflow at byte {at}");
        object? v = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private object? Peek(List<object?> stack, int at)
    {
        if (stack.Count == 0 || ReferenceEquals(stack[^1], Mark)) throw Bad($"stack underflow at byte {at}");
        return stack[^1];
    }

    private List<object?> PopToMark(List<object?> stack, int at)
    {
        int mark = stack.FindLastIndex(o => ReferenceEquals(o, Mark));
        if (mark < 0) throw Bad($"no MARK before the opcode at byte {at}");
        var items = stack.GetRange(mark + 1, stack.Count - mark - 1);
        stack.RemoveRange(mark, stack.Count - mark);
        return items;
    }

    private object? GetMemo(Dictionary<long, object?> memo, long key, int at) =>
        memo.TryGetValue(key, out var v) ? v : throw Bad($"memo key {key} read at byte {at} was never stored");

    private List<object?> AsList(object? o, int at) => o as List<object?> ?? throw Bad($"APPEND at byte {at} targets a non-list");

    private PyDict AsDict(object? o, int at) => o as PyDict ?? throw Bad($"SETITEM at byte {at} targets a non-dict");

    internal FinetuneException Error(string what) => Bad(what);
}

/// <summary>A Python dict / OrderedDict with hashable keys (strings, numbers, tuples are not needed for state dicts).</summary>
internal sealed class PyDict
{
    public OrderedDictionary<object, object?> Items { get; } = new();

    internal void Set(object? key, object? value, PickleReader reader, int at)
    {
        if (key is not (string or long or bool or double))
            throw reader.Error($"dict key of type {key?.GetType().Name ?? "None"} at byte {at} is not supported");
        Items[key] = value;
    }
}
