using System.Numerics;
using System.Runtime.CompilerServices;

namespace Finetune.Tokenizers;

/// <summary>
/// A read-only map from strings to ids, looked up by a span without making a string: open addressing over a
/// power-of-two table whose slots hold the key's hash, length and id, with all keys in one char array. The hash is
/// a polynomial one, built character by character (<see cref="Extend"/>), so that WordPiece's longest-match loop
/// hashes each candidate start once for all the candidate lengths it tries from there.
/// </summary>
internal sealed class SpanVocab
{
    private struct Slot
    {
        public uint Hash;
        public int Length; // -1: empty
        public int Offset;
        public int Id;
    }

    private readonly Slot[] _slots;
    private readonly char[] _chars;
    private readonly int _mask;

    /// <summary>The entries in order; a key seen again keeps its first id, as Dictionary.TryAdd.</summary>
    public SpanVocab(IReadOnlyList<(string Key, int Id)> entries)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, entries.Count * 2));
        _slots = new Slot[size];
        _mask = size - 1;
        for (int i = 0; i < size; i++) _slots[i].Length = -1;
        long total = 0;
        foreach (var (key, _) in entries) total += key.Length;
        _chars = new char[checked((int)total)];
        int offset = 0;
        foreach (var (key, id) in entries)
        {
            if (Find(key) >= 0) continue;
            uint h = Mix(Prefix(key), key.Length);
            int i = (int)h & _mask;
            while (_slots[i].Length >= 0) i = (i + 1) & _mask;
            key.CopyTo(_chars.AsSpan(offset));
            _slots[i] = new Slot { Hash = h, Length = key.Length, Offset = offset, Id = id };
            offset += key.Length;
        }
    }

    /// <summary>The running hash of a key one character longer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Extend(uint prefix, char c) => (prefix + c) * 0x01000193u;

    /// <summary>The running hash of <paramref name="key"/>: <see cref="Extend"/> from 0 over its characters.</summary>
    public static uint Prefix(ReadOnlySpan<char> key)
    {
        uint h = 0;
        foreach (char c in key) h = Extend(h, c);
        return h;
    }

    /// <summary>The id of <paramref name="key"/>, or -1.</summary>
    public int Find(ReadOnlySpan<char> key) => Find(key, Prefix(key));

    /// <summary>The id of <paramref name="key"/>, whose running hash is <paramref name="prefixHash"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(ReadOnlySpan<char> key, uint prefixHash)
    {
        uint h = Mix(prefixHash, key.Length);
        var slots = _slots;
        int i = (int)h & _mask;
        while (true)
        {
            ref Slot s = ref slots[i];
            if (s.Length < 0) return -1;
            if (s.Hash == h && s.Length == key.Length && key.SequenceEqual(_chars.AsSpan(s.Offset, s.Length))) return s.Id;
            i = (i + 1) & _mask;
        }
    }

    // murmur3's finalizer over the running hash and the length, so that the low bits used for the slot depend on
    // every character.
    private static uint Mix(uint h, int length)
    {
        h ^= (uint)length * 0x9E3779B1u;
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }
}
