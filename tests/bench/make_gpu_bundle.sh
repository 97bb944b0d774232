#!/usr/bin/env bash
# Assembles target/gpu-bundle/, everything tests/bench/gpu.sh needs on a GPU machine that has
# its NVIDIA driver and PyTorch but no package registry and no Rust toolchain:
#   ezigen.gz                the native CLI (release, symbols stripped, gzipped: 68 MB → ~20 MB)
#   lib/libvulkan.so.1       the Vulkan loader (the driver brings the NVIDIA ICD, not the loader)
#   wheels/                  diffusers==0.30.1 and the pure-Python packages it imports
# The bundle travels with the `device` tool's `carry` (64 MiB in all); this script fails when it
# is larger.
#
#   tests/bench/make_gpu_bundle.sh        (after ./build.sh setup; builds the CLI if needed)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=target/gpu-bundle
rm -rf "$B" && mkdir -p "$B/lib" "$B/wheels"
cargo build --release -p ezigen --bin ezigen
cp target/release/ezigen "$B/ezigen"
strip "$B/ezigen" 2>/dev/null || true
gzip -9 "$B/ezigen"
loader=$(ldconfig -p | awk '/libvulkan\.so\.1 /{print $NF; exit}')
[ -n "$loader" ] || { echo "no libvulkan.so.1 here (apt-get install libvulkan1)" >&2; exit 1; }
cp -L "$loader" "$B/lib/libvulkan.so.1"
PY=${PYTHON:-python3}
"$PY" -m pip download --no-deps --only-binary=:all: --dest "$B/wheels" \
  diffusers==0.30.1 huggingface-hub==0.24.6 safetensors==0.4.4 importlib_metadata==10.2.0 zipp==4.1.2 >/dev/null
size=$(du -sb "$B" | cut -f1)
echo "target/gpu-bundle: $((size / 1048576)) MiB" >&2
[ "$size" -le $((64 << 20)) ] || { echo "the bundle is over the 64 MiB carry limit" >&2; exit 1; }
