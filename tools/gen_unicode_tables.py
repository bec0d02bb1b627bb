# Generates src/Finetune/Tokenizers/Unicode/unicode-tables.txt from Python's unicodedata (run once; the output is
# committed and embedded, so nothing needs Python at run time). Lines:
#   D cp:m1 m2 ..  full canonical decomposition        K cp:m1 ..  full compatibility decomposition (when != D)
#   C cp:ccc       non-zero canonical combining class  P a b:c     primary composite (a,b) -> c (NFC/NFKC)
#   L cp:m1 ..     full lowercase mapping (context-free, as Rust char::to_lowercase and Python per-char lower)
#   S cp           Python str.isspace() beyond ASCII   (all hex, code points)
import sys, unicodedata as u
out = [f"# unicodedata {u.unidata_version}"]
h = lambda s: " ".join(f"{ord(c):X}" for c in s)
for cp in range(0x110000):
    if 0xD800 <= cp < 0xE000 or 0xAC00 <= cp <= 0xD7A3: continue  # surrogates; Hangul syllables are algorithmic
    c = chr(cp)
    d = u.normalize("NFD", c); k = u.normalize("NFKD", c)
    if d != c: out.append(f"D {cp:X}:{h(d)}")
    if k != d: out.append(f"K {cp:X}:{h(k)}")
    cc = u.combining(c)
    if cc: out.append(f"C {cp:X}:{cc:X}")
    raw = u.decomposition(c)
    if raw and not raw.startswith("<"):
        parts = [int(x, 16) for x in raw.split()]
        if len(parts) == 2 and u.normalize("NFC", c) == c and u.normalize("NFC", chr(parts[0]) + chr(parts[1])) == c:
            out.append(f"P {parts[0]:X} {parts[1]:X}:{cp:X}")
    lo = c.lower()
    if lo != c: out.append(f"L {cp:X}:{h(lo)}")
    if cp > 127 and c.isspace(): out.append(f"S {cp:X}")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
