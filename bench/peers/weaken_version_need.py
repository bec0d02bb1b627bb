"""Marks one version requirement of an ELF shared library weak (VER_FLG_WEAK in its Vernaux entry), in place.

TorchSharp 0.107's libLibTorchSharp.so requires GLIBCXX_3.4.32 (GCC 13's libstdc++) while Debian 12 ships
3.4.30, so the dynamic loader refuses it. The only symbol behind that version is _ZSt21ios_base_library_initv, a
link-time anchor the library never calls, so a weak requirement (the loader then only warns under LD_DEBUG) is
enough to load it. Used by setup_torchsharp.sh on the bench's own copy of the library; never on the product.

usage: python3 weaken_version_need.py LIB.so [VERSION]   (VERSION default GLIBCXX_3.4.32)
Exit 0 when the requirement is now weak (or absent), 1 on a file that is not a 64-bit little-endian ELF.
"""
import struct
import sys

VER_FLG_WEAK = 0x2
SHT_GNU_VERNEED = 0x6FFFFFFE


def weaken(path, version):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, _ = struct.unpack_from("<HHH", data, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
        changed = found = 0
        for (_, sh_type, _, _, off, _, link, info, _, _) in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab = sections[link][4]
            need = off
            for _ in range(info):  # sh_info = number of Verneed entries
                _, cnt, _, aux, nxt = struct.unpack_from("<HHIII", data, need)
                a = need + aux
                for _ in range(cnt):
                    _, flags, _, name, anext = struct.unpack_from("<IHHII", data, a)
                    end = data.index(b"\0", strtab + name)
                    if data[strtab + name:end].decode() == version:
                        found += 1
                        if not flags & VER_FLG_WEAK:
                            struct.pack_into("<H", data, a + 4, flags | VER_FLG_WEAK)
                            changed += 1
                    a += anext
                need += nxt
        if changed:
            f.seek(0)
            f.write(data)
    return found, changed


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ver = sys.argv[2] if len(sys.argv) > 2 else "GLIBCXX_3.4.32"
    try:
        n, c = weaken(sys.argv[1], ver)
    except ValueError as e:
        sys.exit(str(e))
    print(f"{sys.argv[1]}: {ver} required {n} time(s), {c} marked weak now" if n else f"{sys.argv[1]}: does not require {ver}")
