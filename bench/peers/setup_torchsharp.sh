#!/usr/bin/env bash
# Builds the TorchSharp peer of `bench -- step|infer` (bench/peers/TorchSharpBert, outside Finetune.slnx so CI never
# restores LibTorch) and makes its copy of libLibTorchSharp.so loadable on Debian 12: TorchSharp 0.107 asks for
# GLIBCXX_3.4.32 (GCC 13), Debian 12's libstdc++ stops at 3.4.30, and the one symbol behind that version
# (_ZSt21ios_base_library_initv) is a link anchor with no relocation, so its version requirement is marked weak.
# Only the build output's copy is patched; the NuGet cache and the product are untouched.
# Run again after any rebuild of TorchSharpBert (a build copies the unpatched library back).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/TorchSharpBert/bin/Release/net10.0"
dotnet build -c Release "$here/TorchSharpBert/TorchSharpBert.csproj" -v quiet -nologo
found=0
while IFS= read -r -d '' lib; do
  python3 "$here/weaken_version_need.py" "$lib" GLIBCXX_3.4.32
  found=1
done < <(find "$out" -name 'libLibTorchSharp.so' -print0)
if [ "$found" = 0 ]; then echo "setup_torchsharp: no libLibTorchSharp.so under $out" >&2; exit 1; fi
# Smoke check: one tiny inference step; prints the reason when LibTorch still cannot load.
dotnet "$out/TorchSharpBert.dll" --mode infer --layers 1 --hidden 32 --heads 2 --inter 64 --batch 1 --seq 8 --iters 1 --warmup 0 --threads 1
