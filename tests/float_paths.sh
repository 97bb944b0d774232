#!/usr/bin/env bash
# Runs the native parity suites under the float paths this machine offers and writes the worst
# figure of every check per path, its tolerance and the margin (tolerance / worst) as a
# Markdown table: the evidence that every tolerance holds on other machines, not just this one.
#
#   tests/float_paths.sh [OUT.md]                  (default: docs/float-paths.md)
#   tests/float_paths.sh --from-logs DIR [OUT.md]  (the table again from a run's logs)
#
# Paths (each a way another machine can compute differently):
#   CPU reference backend (burn-flex): SIMD kernels (runtime-detected: AVX-512 here, AVX2 or
#     SSE elsewhere) with rayon at 1 and 2 threads, and the scalar build (`--no-default-features`
#     of ezigen-tests: no SIMD, no threads, another summation order);
#   lavapipe: LP_NATIVE_VECTOR_WIDTH=128 and 256 (its default on AVX2+), and
#     GALLIUM_OVERRIDE_CPU_CAPS=sse4.1 (a CPU without AVX/FMA/F16C: no fused multiply-adds, and
#     no shader-f16, so its f16 checks are skipped).
# CPU checks do not depend on lavapipe and wgpu checks not on the CPU backend, so three runs
# cover them: A (SIMD 1 thread, 128-bit), B (SIMD 2 threads, 256-bit), C (scalar, SSE4.1).
# Checks whose name says neither `cpu` nor `wgpu` run on the host and are reported together.
set -euo pipefail
cd "$(dirname "$0")/.."
from_logs=""
if [ "${1:-}" = "--from-logs" ]; then
  from_logs=$2
  shift 2
fi
out=${1:-docs/float-paths.md}
logs=${from_logs:-${FLOAT_PATHS_LOGS:-$(mktemp -d)}}
export PATH="$HOME/.cargo/bin:$PATH"
# `suite` holds smoke, text_encoder, unet, vae, clip_vision, schedulers, convert, pipeline, limits,
# train and the other CPU suites as modules (tests/suite.rs).
suites=(suite kernels wgpu_parity wgpu_pipeline)
args=()
for s in "${suites[@]}"; do args+=(--test "$s"); done

run() {
  local name=$1
  shift
  echo "== $name" >&2
  # No `set -e` abort on a failed check: its figure is what the table is for.
  env "$@" cargo test --release -p ezigen-tests ${features:-} "${args[@]}" --no-fail-fast -- --nocapture --test-threads=1 \
    > "$logs/$name.log" 2>&1 || echo "   (some checks failed under $name: see the table)" >&2
}
if [ -z "$from_logs" ]; then
  # The scalar build first: A and B then reuse the default build.
  features="--no-default-features" run "C" GALLIUM_OVERRIDE_CPU_CAPS=sse4.1
  run "A" RAYON_NUM_THREADS=1 LP_NATIVE_VECTOR_WIDTH=128
  run "B" RAYON_NUM_THREADS=2 LP_NATIVE_VECTOR_WIDTH=256
fi

python3 - "$logs" "$out" <<'EOF'
import re, sys, os, platform, subprocess
logs, out = sys.argv[1], sys.argv[2]
# "PARITY name: … rel X (tol T)", "… worst rel X (tol T)", "… worst abs X (tol T)",
# "… worst N levels (tol M)".
pat = re.compile(r"PARITY (.+?): .*?(?:rel|abs|worst) ([0-9.eE+-]+)(?: levels²?)? \(tol ([0-9.eE+-]+)\)")
pat2 = re.compile(r"self-check (.+?): ran .*?rel ([0-9.eE+-]+) \(tol ([0-9.eE+-]+)\)")
def kind(name):
    n = name.lower()
    if "cpu" in n:
        return "cpu"
    if "wgpu" in n:
        return "gpu"
    return "host"
paths = {
    "A": {"cpu": "CPU SIMD 1 thread", "gpu": "lavapipe 128-bit"},
    "B": {"cpu": "CPU SIMD 2 threads", "gpu": "lavapipe 256-bit"},
    "C": {"cpu": "CPU scalar", "gpu": "lavapipe SSE4.1 (no FMA)"},
}
rows = {}
failed = {}
for run in ("A", "B", "C"):
    text = open(os.path.join(logs, f"{run}.log"), errors="replace").read()
    failed[run] = re.findall(r"^    (\S+)$", text.split("failures:")[-1], re.M) if "failures:" in text else []
    for line in text.splitlines():
        m = pat.search(line) or pat2.search(line)
        if not m:
            continue
        name, val, tol = m.group(1).strip(), float(m.group(2)), float(m.group(3))
        # The training checks compare every adapter tensor: one row per step and kind.
        name = re.sub(r"^(.*? step\d+ (?:grad|param)) \S+$", r"\1 (every adapter tensor)", name)
        k = kind(name)
        col = paths[run].get(k, "host")
        r = rows.setdefault(name, {"tol": tol, "kind": k, "vals": {}})
        r["tol"] = max(tol, r["tol"])
        r["vals"][col] = max(val, r["vals"].get(col, 0.0))
cols = ["CPU SIMD 1 thread", "CPU SIMD 2 threads", "CPU scalar", "lavapipe 128-bit", "lavapipe 256-bit", "lavapipe SSE4.1 (no FMA)", "host"]
lines = [
    "# Parity under several float paths",
    "",
    f"Written by `tests/float_paths.sh` on {platform.processor() or platform.machine()} "
    f"({subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores). Each cell is the worst "
    "figure of the check on that path (the element-wise error `max |a − e| / (|e| + mean|e|)` of "
    "`assert_close`, the trajectories and the forced latents, unless the check counts levels or "
    "absolute similarity; for free-running images the mean squared error in levels² against the "
    "PSNR bound); "
    "margin = tolerance / worst over all paths (∞ when every path is exact).",
    "",
    "Paths: the CPU reference backend (burn-flex) with SIMD kernels (runtime-detected) at 1 and 2 "
    "rayon threads and built scalar (`--no-default-features`); lavapipe at 128 and 256 bits and "
    "with `GALLIUM_OVERRIDE_CPU_CAPS=sse4.1` (no AVX/FMA/F16C, hence no shader-f16: its f16 "
    "checks are skipped). Threads and lavapipe's vector width give bit-identical figures (rayon "
    "splits outputs, not reductions; lavapipe's lanes are invocations), so the paths that move "
    "the figures are SIMD vs scalar on the CPU and FMA vs no FMA on lavapipe.",
    "",
    "| check | " + " | ".join(cols) + " | tolerance | margin |",
    "|---|" + "---|" * (len(cols) + 2),
]
worst_margin = float("inf")
for name in sorted(rows):
    r = rows[name]
    vals = r["vals"]
    worst = max(vals.values())
    margin = r["tol"] / worst if worst > 0 else float("inf")
    worst_margin = min(worst_margin, margin)
    cells = [f"{vals[c]:.2e}" if c in vals else "" for c in cols]
    lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['tol']:.0e} | {margin:.1f}× |")
skipped = {r: sorted(set(re.findall(r"SKIP (.+)", open(os.path.join(logs, f"{r}.log"), errors="replace").read()))) for r in ("A", "B", "C")}
lines += ["", f"Smallest margin: {worst_margin:.1f}×. Failed tests: " + ", ".join(f"run {r} {failed[r] or 'none'}" for r in ("A", "B", "C")) + ".",
          "Skipped: " + ", ".join(f"run {r}: {'; '.join(skipped[r]) or 'nothing'}" for r in ("A", "B", "C")) + "."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines[-1:]))
EOF
echo "table: $out (logs in $logs)" >&2
