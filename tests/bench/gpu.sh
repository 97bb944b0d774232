#!/usr/bin/env bash
# The one GPU benchmark, for a lent GPU machine (an NVIDIA card with its driver and PyTorch, no
# package registry): the native full-size benchmark on the card through Vulkan (f16 and f32,
# the WGSL kernels and plain burn ops) and the same UNet step in PyTorch CUDA fp16, then
# TFLOP/s of each and the fraction of the card's fp16 peak. Runs in under 9 minutes on an H200.
#
#   tests/bench/make_gpu_bundle.sh               (here: builds target/gpu-bundle)
#   device run, carry target/gpu-bundle:  tests/bench/gpu.sh [OUT_DIR]
#
# Prints one JSON line per measurement and a summary table; everything also goes to OUT_DIR
# ($OUT when set by the device tool, else bench-gpu/).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=target/gpu-bundle
OUT=${1:-${OUT:-bench-gpu}}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg} && mkdir -p "$XDG_RUNTIME_DIR"
BIN=${TMPDIR:-/tmp}/ezigen-gpu
gunzip -c "$B/ezigen.gz" >"$BIN" && chmod +x "$BIN" || { echo "no $B/ezigen.gz: run tests/bench/make_gpu_bundle.sh and carry target/gpu-bundle" >&2; exit 1; }
PY=${PYTHON:-python3}
log() { echo "== $*" >&2; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; } >"$OUT/gpu.txt" 2>&1
log "card: $(cat "$OUT/gpu.txt")"
timeout 60 "$BIN" info >"$OUT/adapter.json" 2>"$OUT/adapter.log" || log "ezigen info failed: $(tail -3 "$OUT/adapter.log")"
# PyTorch first (its wheels are installed into a private folder, never into the system).
"$PY" -m pip install --quiet --no-index --no-deps --target "${TMPDIR:-/tmp}/ezigen-pydeps" "$B"/wheels/*.whl >/dev/null 2>&1 \
  || log "diffusers wheels not installed"
PYTHONPATH="${TMPDIR:-/tmp}/ezigen-pydeps${PYTHONPATH:+:$PYTHONPATH}" timeout 120 "$PY" tests/bench/torch_unet_step.py \
  --device cuda --dtype fp16 --repeats 10 >"$OUT/torch-cuda-fp16.jsonl" 2>"$OUT/torch.log" || log "torch run failed: $(tail -3 "$OUT/torch.log")"
common=(bench --random-sd21 --backend wgpu --no-pipeline --repeats 5 --only unet_step,reference_pass,vae_encode,vae_decode)
for run in "f16 wgsl" "f16 reference" "f32 wgsl" "f32 reference"; do
  set -- $run
  log "ezigen bench $1 $2"
  timeout 90 "$BIN" "${common[@]}" --dtype "$1" --kernels "$2" >"$OUT/ezigen-$1-$2.jsonl" 2>"$OUT/ezigen-$1-$2.log" \
    || log "  failed or timed out: $(tail -2 "$OUT/ezigen-$1-$2.log")"
done
cat "$OUT"/*.jsonl
"$PY" - "$OUT" <<'PYEOF'
import glob, json, sys
out = sys.argv[1]
card = open(f"{out}/gpu.txt").read().strip()
# Dense fp16 peaks (TFLOP/s) without sparsity: tensor cores, and the plain vector units.
PEAKS = {"H200": (989.5, 133.8), "H100": (989.5, 133.8), "A100": (312.0, 78.0), "L40S": (362.0, 91.6)}
peak = next((v for k, v in PEAKS.items() if k in card), None)
recs = [json.loads(l) for f in sorted(glob.glob(f"{out}/*.jsonl")) for l in open(f) if l.strip().startswith("{")]
torch_rec = next((r for r in recs if r.get("backend") == "pytorch-cuda"), None)
flops = torch_rec.get("flops") if torch_rec else None
print(f"\ncard: {card}; fp16 peaks (tensor / vector): {peak or 'unknown'} TFLOP/s")
print("| run | stage | adapters | ms | dispatches | TFLOP/s | of fp16 vector peak |")
print("|---|---|---|---|---|---|---|")
for r in recs:
    if r.get("bench") not in ("unet_step", "reference_pass", "vae_encode", "vae_decode") or "ms" not in r:
        continue
    name = r.get("backend", "?") + " " + str(r.get("dtype", "")) + " " + str(r.get("kernels", ""))
    tf = ""
    frac = ""
    # The FLOP count is torch's for the stock step (adapters off); our adapters-on step does more.
    if flops and r["bench"] == "unet_step" and not r.get("adapters"):
        t = flops / (r["ms"] / 1000) / 1e12
        tf = f"{t:.1f}"
        frac = f"{t / peak[1]:.1%}" if peak else ""
    print(f"| {name} | {r['bench']} | {r.get('adapters', '')} | {r['ms']:.2f} | {r.get('dispatches', '')} | {tf} | {frac} |")
PYEOF
