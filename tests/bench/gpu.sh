#!/usr/bin/env bash
# The one GPU check, for a lent GPU machine (an NVIDIA card with its driver and PyTorch, no
# package registry, no Rust toolchain), most important first:
#   1. the GEMM sweep: `ezigen tune --sweep` on the full-size random SD 2.1-base (f16, then f32):
#      every implementation (burn's kernels, every tile and K split of shaders/gemm.wgsl) on
#      every distinct GEMM problem of the UNet, the VAE and the CLIP towers, ms and TFLOP/s,
#      and the fastest kept per problem (the tuner's table, in $W/gemm-tuning.json);
#   2. the full-size benchmark with that table (f16, f32), and with burn's kernels forced (the
#      "before" on the same card);
#   3. the same UNet step in PyTorch CUDA fp16;
#   4. the same UNet step through the wasm build under Node with Dawn (npm `webgpu`), when the
#      bundle carries Node (make_gpu_bundle.sh --dawn);
#   5. the wgpu parity suites (kernels, wgpu_parity, wgpu_pipeline) on the card.
# TFLOP/s and fractions of the card's f32 and f16 vector peaks in the summary. Everything runs
# under one deadline (GPU_SH_BUDGET seconds, default 470), so it ends within 8 minutes.
#
#   tests/bench/make_gpu_bundle.sh               (here: builds target/gpu-bundle)
#   device run, carry target/gpu-bundle:  tests/bench/gpu.sh [OUT_DIR]
#   then, for the Dawn step (Node does not fit in the same carry):
#   tests/bench/make_gpu_bundle.sh --dawn        (here: target/gpu-bundle-dawn, after ./build.sh build)
#   device run, carry target/gpu-bundle-dawn:  GPU_SH_PLAN="dawn:f16 dawn:f32" tests/bench/gpu.sh
#
# GPU_SH_BUNDLE (another bundle folder, e.g. a CLI built with --features autotune),
# GPU_SH_PLAN and GPU_SH_BENCH_LIMIT choose a shorter run for a second call.
#
# Writes OUT_DIR/summary.md (also printed last) and OUT_DIR/gpu-logs.tar.gz with every log and
# JSON line; OUT_DIR is $OUT when the device tool sets it, else bench-gpu/.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$ROOT/${GPU_SH_BUNDLE:-target/gpu-bundle}
D=$ROOT/${GPU_SH_DAWN_BUNDLE:-target/gpu-bundle-dawn}
# A call that carries only the Dawn bundle takes its Vulkan loader from there.
[ -d "$B" ] || B=$D
OUT=${1:-${OUT:-bench-gpu}}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
W=${TMPDIR:-/tmp}/ezigen-gpu && rm -rf "$W" && mkdir -p "$W/logs" "$W/bin"
START=$SECONDS
BUDGET=${GPU_SH_BUDGET:-470}
log() { echo "== [$((SECONDS - START))s] $*" >&2; }
# Runs "$@" with at most $1 seconds, never past the deadline; skips it when under 15 s remain.
step() {
  local limit=$1 && shift
  local left=$((BUDGET - (SECONDS - START)))
  ((left < 15)) && { log "skipped (deadline): $*"; return 124; }
  ((limit > left)) && limit=$left
  timeout -k 5 "$limit" "$@"
}
unxz_to() { if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c 'import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$1" "$2"; fi && chmod +x "$2"; }

# Loader and glvnd from the bundle (the driver mounts the NVIDIA ICD; README of the device tool).
if [ -d "$B/debs" ] && ! ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
  for f in "$B"/debs/*.deb; do dpkg -x "$f" / 2>/dev/null || dpkg -x "$f" "$W/root"; done
  ldconfig 2>/dev/null || true
  [ -d "$W/root" ] && export LD_LIBRARY_PATH="$W/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 \
  && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg} && mkdir -p "$XDG_RUNTIME_DIR"
BIN=$W/bin/ezigen
# The Dawn bundle carries the Vulkan loader but no CLI: the native steps are skipped then.
if [ -f "$B/ezigen.xz" ]; then unxz_to "$B/ezigen.xz" "$BIN"; else BIN=""; log "no native CLI (target/gpu-bundle): native steps skipped"; fi
# The test binaries read tests/fixtures through the repository path they were built in.
built=$(cat "$B/build-root" 2>/dev/null || echo "$ROOT")
if [ "$built" != "$ROOT" ] && [ ! -e "$built" ]; then mkdir -p "$(dirname "$built")" && ln -s "$ROOT" "$built"; fi
for t in "$B"/tests/*.xz; do [ -f "$t" ] && unxz_to "$t" "$W/bin/$(basename "$t" .xz)"; done
PY=${PYTHON:-python3}
# GPU_SH_TINY=1: a dry run of this script's plumbing on any machine (built-in tiny model, torch on
# the CPU at latent 8); the figures mean nothing.
MODEL=(--random-sd21) TORCH=(--device cuda --dtype fp16 --repeats 10)
[ -n "${GPU_SH_TINY:-}" ] && MODEL=() TORCH=(--device cpu --dtype fp32 --latent 8 --repeats 1)

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || echo "no nvidia-smi"; } >"$W/logs/gpu.txt" 2>&1
log "card: $(cat "$W/logs/gpu.txt")"
step 60 "$BIN" info >"$W/logs/adapter.json" 2>"$W/logs/adapter.log" || log "ezigen info failed: $(tail -3 "$W/logs/adapter.log")"
log "adapter: $(tr -d '\n' <"$W/logs/adapter.json")"

export EZIGEN_TUNE_CACHE=$W/gemm-tuning.json
tune() { # dtype
  [ -n "$BIN" ] || return
  log "ezigen tune --sweep $1 (every GEMM implementation on every problem; the choice is kept)"
  step "${GPU_SH_TUNE_LIMIT:-110}" "$BIN" tune "${MODEL[@]}" --dtype "$1" --sweep --force --budget-ms 80000 \
    >"$W/logs/sweep-$1.jsonl" 2>"$W/logs/sweep-$1.log" || log "  failed or stopped: $(tail -2 "$W/logs/sweep-$1.log")"
}
dawn() { # dtype
  [ -f "$D/node.xz" ] && [ -f "$D/dawn.node.xz" ] || { log "no Dawn bundle (make_gpu_bundle.sh --dawn, a call of its own)"; return; }
  [ -x "$W/bin/node" ] || unxz_to "$D/node.xz" "$W/bin/node"
  mkdir -p "$W/dawn/node_modules/webgpu/dist/linux-x64" && cp -r "$D/webgpu/." "$W/dawn/node_modules/webgpu/"
  [ -f "$W/dawn/node_modules/webgpu/dist/linux-x64/dawn.node" ] || unxz_to "$D/dawn.node.xz" "$W/dawn/node_modules/webgpu/dist/linux-x64/dawn.node"
  mkdir -p "$W/pkg" && cp "$D/pkg/ezigen.js" "$D/pkg/tokenizer.json.gz" "$W/pkg/"
  [ -f "$W/pkg/ezigen_bg.wasm" ] || unxz_to "$D/pkg/ezigen_bg.wasm.xz" "$W/pkg/ezigen_bg.wasm"
  log "wasm under Node + Dawn: UNet step $1"
  step 150 "$W/bin/node" tests/bench/dawn_step.mjs --webgpu "$W/dawn/node_modules/webgpu" --pkg "$W/pkg" --dtype "$1" --tune-budget-ms 40000 \
    >"$W/logs/dawn-$1.jsonl" 2>"$W/logs/dawn-$1.log" || log "  failed or stopped: $(tail -3 "$W/logs/dawn-$1.log")"
}
bench() { # dtype kernels
  [ -n "$BIN" ] || return
  log "ezigen bench $1 $2"
  step "${GPU_SH_BENCH_LIMIT:-80}" "$BIN" bench "${MODEL[@]}" --backend wgpu --no-pipeline --repeats 5 \
    --only unet_step,reference_pass,attention,vae_encode,vae_decode,clip_vision,text_encoder \
    --dtype "$1" --kernels "$2" >"$W/logs/ezigen-$1-$2.jsonl" 2>"$W/logs/ezigen-$1-$2.log" \
    || log "  failed or stopped: $(tail -2 "$W/logs/ezigen-$1-$2.log")"
}
torch_step() {
  log "PyTorch CUDA fp16 UNet step"
  "$PY" -m pip install --quiet --no-index --no-deps --target "$W/pydeps" "$B"/wheels/*.whl >"$W/logs/pip.log" 2>&1 \
    || log "diffusers wheels not installed: $(tail -2 "$W/logs/pip.log")"
  PYTHONPATH="$W/pydeps${PYTHONPATH:+:$PYTHONPATH}" step 150 "$PY" tests/bench/torch_unet_step.py \
    "${TORCH[@]}" >"$W/logs/torch-cuda-fp16.jsonl" 2>"$W/logs/torch.log" \
    || log "  torch run failed: $(tail -3 "$W/logs/torch.log")"
}
suite() { # name limit
  [ -x "$W/bin/$1" ] || { log "no test binary $1"; return; }
  log "cargo test --test $1 (on the card)"
  step "$2" "$W/bin/$1" >"$W/logs/test-$1.log" 2>&1
  echo "$1 rc=$?: $(grep -E '^test result' "$W/logs/test-$1.log" | tail -1)" >>"$W/logs/tests.txt"
  grep -E 'FAILED|panicked' "$W/logs/test-$1.log" | head -20 >>"$W/logs/tests.txt"
}

# GPU_SH_PLAN: the steps in order (default: everything, most important first).
for s in ${GPU_SH_PLAN:-tune:f16 bench:f16:wgsl torch bench:f16:burn tune:f32 bench:f32:wgsl suite:kernels:60 bench:f32:burn dawn:f16 suite:wgpu_parity:90 suite:wgpu_pipeline:90}; do
  IFS=: read -r what a b <<<"$s"
  case $what in
    tune) tune "$a" ;;
    dawn) dawn "$a" ;;
    bench) bench "$a" "$b" ;;
    torch) torch_step ;;
    suite) suite "$a" "$b" ;;
  esac
done

"$PY" - "$W/logs" >"$OUT/summary.md" <<'PYEOF'
import glob, json, sys
d = sys.argv[1]
card = open(f"{d}/gpu.txt").read().strip()
try:
    adapter = json.load(open(f"{d}/adapter.json"))
except Exception:
    adapter = {}
# Dense peaks (TFLOP/s) without sparsity: fp16 tensor cores, fp16 vector units, f32 vector units
# (H100/H200 SXM: 132 SMs × 128 FP32 lanes × 2 × 1.98 GHz = 67 TFLOP/s; fp16 vector at 2×).
PEAKS = {"H200": (989.5, 133.8, 66.9), "H100": (989.5, 133.8, 66.9), "A100": (312.0, 78.0, 19.5), "L40S": (362.0, 91.6, 91.6)}
peak = next((v for k, v in PEAKS.items() if k in card), None)
recs = []
for f in sorted(glob.glob(f"{d}/*.jsonl")):
    for line in open(f):
        if line.strip().startswith("{"):
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
torch_rec = next((r for r in recs if r.get("backend") == "pytorch-cuda"), None)
flops = torch_rec.get("flops") if torch_rec else None
print(f"card: {card}")
print(f"wgpu adapter: {adapter.get('name', '?')} ({adapter.get('backend', '?')}, driver {adapter.get('driver', '?')}, shader_f16 {adapter.get('shader_f16', '?')}, subgroups {adapter.get('subgroups', '?')})")
print(f"peaks (fp16 tensor / fp16 vector / f32 vector): {peak or 'unknown'} TFLOP/s; UNet step FLOPs (torch count, adapters off): {flops}")
# The GEMM sweep: per problem and dtype, burn's time, the best tile's, the choice.
sweep = {}
for r in recs:
    if r.get("bench") == "gemm":
        key = (r["labels"]["dtype"], r["problem"].split(" ", 1)[1])
        sweep.setdefault(key, []).append(r)
if sweep:
    print()
    print("| dtype | GEMM problem | GFLOP | burn ms | best tile | ms | TFLOP/s | of f32 vector peak | of f16 vector peak | chosen |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (dt, prob), rs in sorted(sweep.items(), key=lambda kv: (kv[0][0], -kv[1][0]["flops"])):
        burn = next((r for r in rs if r["impl"] == "burn"), None)
        tiles = [r for r in rs if r["impl"] != "burn"]
        best = min(tiles, key=lambda r: r["ms"]) if tiles else None
        chosen = next((r["impl"] for r in rs if r.get("chosen")), "?")
        f32p = f"{best['tflops'] / peak[2]:.1%}" if best and peak else ""
        f16p = f"{best['tflops'] / peak[1]:.1%}" if best and peak else ""
        print(f"| {dt} | {prob} | {rs[0]['flops'] / 1e9:.2f} | {burn['ms']:.3f} | {best['impl'] if best else '—'} | "
              f"{best['ms']:.3f} | {best['tflops']:.1f} | {f32p} | {f16p} | {chosen} |" if best and burn else f"| {dt} | {prob} | | | | | | | | {chosen} |")
for r in recs:
    if r.get("bench") == "tune":
        print(f"\ntuning {r['labels']['dtype']}: {r['problems']} problems in {r['tuning_ms'] / 1000:.1f} s, chosen {r['chosen']}, skipped {r['skipped']}")
print()
print()
print("| run | stage | adapters (attention: keys, kernel variant) | ms | dispatches | TFLOP/s | of fp16 tensor peak | of fp16 vector peak | of f32 vector peak |")
print("|---|---|---|---|---|---|---|---|---|")
for r in recs:
    if "ms" not in r or r.get("bench") == "gemm":
        continue
    name = " ".join(str(r.get(k, "")) for k in ("backend", "dtype", "kernels")).strip()
    tf = frac_t = frac_v = frac_32 = ""
    # The FLOP count is torch's for the stock step (adapters off); our adapters-on step does more.
    if flops and r.get("bench") == "unet_step" and not r.get("adapters"):
        t = flops / (r["ms"] / 1000) / 1e12
        tf = f"{t:.1f}"
        if peak:
            frac_t, frac_v, frac_32 = f"{t / peak[0]:.1%}", f"{t / peak[1]:.1%}", f"{t / peak[2]:.1%}"
    ms = r["ms"]
    detail = r.get("adapters", f"{r.get('keys', '')} {r.get('variant', '')}".strip())
    print(f"| {name} | {r.get('bench', '?')} | {detail} | {ms:.2f} | {r.get('dispatches', '')} | {tf} | {frac_t} | {frac_v} | {frac_32} |")
print()
try:
    print("tests on the card:\n" + open(f"{d}/tests.txt").read())
except OSError:
    print("tests on the card: none ran")
PYEOF
tar -czf "$OUT/gpu-logs.tar.gz" -C "$W" logs
cat "$OUT/summary.md"
log "done"
