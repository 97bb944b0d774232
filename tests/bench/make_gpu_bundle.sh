#!/usr/bin/env bash
# Assembles what tests/bench/gpu.sh needs on a GPU machine that has its NVIDIA driver and
# PyTorch but no package registry, no Rust toolchain and no Node.js. Two bundles, one per
# `device` call (each travels with the call's `carry`, 64 MiB together with the working tree):
#
#   tests/bench/make_gpu_bundle.sh [--suites]  → target/gpu-bundle/ (the sweep, the benchmarks,
#                                                the kernel suite; first call, default plan)
#     ezigen.xz              the native CLI (release, symbols stripped, xz: ~100 MB -> ~12 MB)
#     tests/kernels.xz       the wgpu kernel suite, so the GEMM family's parity runs on the card
#                            (--suites adds wgpu_parity and wgpu_pipeline: ~20 MB more); they
#                            read tests/fixtures through the path compiled into them
#                            (build-root, recreated there as a link)
#     debs/                  the Vulkan loader and glvnd (the driver brings the NVIDIA ICD only)
#     wheels/                diffusers==0.30.1 and huggingface-hub 0.24.6 (PyTorch's UNet step)
#   tests/bench/make_gpu_bundle.sh --dawn      → target/gpu-bundle-dawn/ (the UNet step through
#                                                Dawn; a second call with
#                                                GPU_SH_PLAN="dawn:f16 dawn:f32")
#     node.xz                this machine's Node.js
#     webgpu/, dawn.node.xz  npm `webgpu` (Dawn) without its other platforms' binaries
#     pkg/                   the page's wasm build (www/pkg, the wasm xz-compressed) and the
#                            app's tokenizer.json.gz (needs ./build.sh build first)
#     debs/                  as above
# Each fails when the bundle and the tracked tree together exceed the 64 MiB carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_ABS=$PWD
mode=native
suites=(kernels)
for a in "$@"; do
  case $a in
    --dawn) mode=dawn ;;
    --suites) suites=(kernels wgpu_parity wgpu_pipeline) ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

loader_debs() {
  mkdir -p "$1"
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  apt-get $o update >/dev/null 2>&1 || true
  (cd "$1" && apt-get $o download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 >/dev/null 2>&1) \
    || { echo "apt-get download of the Vulkan loader failed" >&2; exit 1; }
}

if [ "$mode" = dawn ]; then
  B=target/gpu-bundle-dawn
  [ -f www/pkg/ezigen_bg.wasm ] || { echo "--dawn: no www/pkg (run ./build.sh build first)" >&2; exit 1; }
  rm -rf "$B" && mkdir -p "$B/webgpu" "$B/pkg"
  xz -9 -T0 -c "$(command -v node)" >"$B/node.xz"
  (cd node_modules/webgpu && tar --exclude=./dist -cf - .) | tar -xf - -C "$B/webgpu"
  xz -9 -T0 -c node_modules/webgpu/dist/linux-x64/dawn.node >"$B/dawn.node.xz"
  cp www/pkg/ezigen.js crate/assets/tokenizer.json.gz "$B/pkg/"
  xz -9 -T0 -c www/pkg/ezigen_bg.wasm >"$B/pkg/ezigen_bg.wasm.xz"
  loader_debs "$B/debs"
else
  B=target/gpu-bundle
  rm -rf "$B" && mkdir -p "$B/tests" "$B/wheels"
  cargo build --release -p ezigen --bin ezigen
  strip -o "$B/ezigen" target/release/ezigen
  xz -9e -T0 "$B/ezigen"
  args=()
  for t in "${suites[@]}"; do args+=(--test "$t"); done
  cargo test --release -p ezigen-tests "${args[@]}" --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' \
    | while read -r name exe; do strip -o "$B/tests/$name" "$exe" && xz -9e -T0 "$B/tests/$name"; done
  pwd >"$B/build-root"
  loader_debs "$B/debs"
  PY=${PYTHON:-python3}
  "$PY" -m pip download --no-deps --only-binary=:all: --dest "$B/wheels" \
    diffusers==0.30.1 huggingface-hub==0.24.6 >/dev/null
fi
size=$(du -sb "$B" | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "$B: $((size / 1048576)) MiB; the tracked tree: $((tree / 1048576)) MiB" >&2
ls -la "$B" >&2
[ $((size + tree)) -le $((63 << 20)) ] || { echo "$B and the tree exceed the 64 MiB carry (1 MiB kept for untracked files)" >&2; exit 1; }
