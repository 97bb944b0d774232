#!/usr/bin/env bash
# Full-size SD 2.1-base + EZIGen benchmark (random weights), the figures of the performance
# closing note: per-stage times, dispatches and peak allocator memory in f16 and f32 on a wgpu
# device limited to WebGPU's defaults, the UNet step before (plain burn ops) and after (the
# WGSL kernels of shaders/), and the same UNet step in PyTorch on the CPU for a ratio.
#
#   tests/bench/full_size.sh [OUT_DIR]        (needs target/release/ezigen: ./build.sh build)
#
# Environment: PYTHON (a Python with torch and diffusers==0.30.1; skipped when absent),
# REPEATS (warm runs per stage, default 0 = the cold run only, for slow devices), LATENT (64).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench-out}
mkdir -p "$OUT"
BIN=target/release/ezigen
REPEATS=${REPEATS:-0}
LATENT=${LATENT:-64}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}
mkdir -p "$XDG_RUNTIME_DIR"
run() {
  local name=$1
  shift
  echo "== $name: $*" >&2
  local t0=$(date +%s)
  "$@" >"$OUT/$name.jsonl" 2>"$OUT/$name.log"
  echo "   exit $?, $(( $(date +%s) - t0 )) s" >&2
}
$BIN info >"$OUT/adapter.json" 2>/dev/null
common=(bench --random-sd21 --backend wgpu --no-pipeline --repeats "$REPEATS" --latent "$LATENT" --max-binding-mib 128 --max-buffer-mib 256)
if [ -n "${PYTHON:-}" ]; then
  run torch-cpu "$PYTHON" tests/bench/torch_unet_step.py --latent "$LATENT" --repeats "$(( REPEATS > 0 ? REPEATS : 1 ))"
fi
run f16-wgsl $BIN "${common[@]}" --dtype f16 --kernels wgsl
run f32-wgsl $BIN "${common[@]}" --dtype f32 --kernels wgsl
run f32-reference $BIN "${common[@]}" --dtype f32 --kernels reference --only unet_step
# REFERENCE_F16=1 adds the f16 "before" (slow on a CPU adapter: f16 is emulated there).
if [ -n "${REFERENCE_F16:-}" ]; then
  run f16-reference $BIN "${common[@]}" --dtype f16 --kernels reference --only unet_step
fi
cat "$OUT"/*.jsonl
