#!/usr/bin/env bash
# Assembles target/gpu-bundle/, everything tests/bench/gpu.sh needs on a GPU machine that has
# its NVIDIA driver and PyTorch but no package registry and no Rust toolchain:
#   ezigen.xz                the native CLI (release, symbols stripped, xz: 68 MB -> ~11 MB)
#   tests/<name>.xz          the wgpu test binaries (kernels, wgpu_parity, wgpu_pipeline), so the
#                            parity suites also run on the card; they read tests/fixtures through
#                            the path compiled into them (build-root, recreated there as a link)
#   debs/                    the Vulkan loader and glvnd (the driver brings the NVIDIA ICD only)
#   wheels/                  diffusers==0.30.1 and the pure-Python packages it needs beyond the
#                            machine's own (huggingface-hub 0.24.6: diffusers 0.30.1 predates 1.x)
#   with --dawn, for the UNet step through the browser's engine (tests/bench/dawn_step.mjs):
#   node.xz                  this machine's Node.js
#   webgpu/, dawn.node.xz    npm `webgpu` (Dawn) without its other platforms' binaries
#   pkg/                     the page's wasm build (www/pkg, the wasm xz-compressed) and the
#                            app's tokenizer.json.gz
# The bundle and the working tree travel with the `device` tool's `carry` (64 MiB in all); this
# script fails when the bundle is over 40 MiB (the tracked tree is ~21 MiB).
#
#   tests/bench/make_gpu_bundle.sh [--dawn]   (after ./build.sh setup; builds what it needs;
#                                              --dawn needs the wasm build, ./build.sh build)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=target/gpu-bundle
ROOT_ABS=$PWD
rm -rf "$B" && mkdir -p "$B/tests" "$B/debs" "$B/wheels"
cargo build --release -p ezigen --bin ezigen
strip -o "$B/ezigen" target/release/ezigen
xz -9e -T0 "$B/ezigen"
tests=(kernels wgpu_parity wgpu_pipeline)
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
cargo test --release -p ezigen-tests "${args[@]}" --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' \
  | while read -r name exe; do strip -o "$B/tests/$name" "$exe" && xz -9e -T0 "$B/tests/$name"; done
pwd >"$B/build-root"
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
apt-get $o update >/dev/null 2>&1 || true
(cd "$B/debs" && apt-get $o download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 >/dev/null 2>&1) \
  || { echo "apt-get download of the Vulkan loader failed" >&2; exit 1; }
PY=${PYTHON:-python3}
"$PY" -m pip download --no-deps --only-binary=:all: --dest "$B/wheels" \
  diffusers==0.30.1 huggingface-hub==0.24.6 >/dev/null
if [ "${1:-}" = --dawn ]; then
  [ -f www/pkg/ezigen_bg.wasm ] || { echo "--dawn: no www/pkg (run ./build.sh build first)" >&2; exit 1; }
  xz -9 -T0 -c "$(command -v node)" >"$B/node.xz"
  mkdir -p "$B/webgpu" "$B/pkg"
  (cd node_modules/webgpu && find . -path ./dist -prune -o -type f -print | cpio -pdm --quiet "$ROOT_ABS/$B/webgpu" 2>/dev/null) \
    || (cd node_modules/webgpu && tar --exclude=./dist -cf - . | tar -xf - -C "$ROOT_ABS/$B/webgpu")
  xz -9 -T0 -c node_modules/webgpu/dist/linux-x64/dawn.node >"$B/dawn.node.xz"
  cp www/pkg/ezigen.js "$B/pkg/"
  xz -9 -T0 -c www/pkg/ezigen_bg.wasm >"$B/pkg/ezigen_bg.wasm.xz"
  cp crate/assets/tokenizer.json.gz "$B/pkg/"
fi
size=$(du -sb "$B" | cut -f1)
echo "target/gpu-bundle: $((size / 1048576)) MiB" >&2
ls -la "$B" "$B/tests" >&2
[ "$size" -le $((40 << 20)) ] || { echo "the bundle is over 40 MiB: it and the tree must fit the 64 MiB carry" >&2; exit 1; }
