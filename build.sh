#!/usr/bin/env bash
# One entry point for setting up, building, serving and testing EZIGen in the browser.
#
#   ./build.sh setup   install what a fresh machine lacks (apt packages, wasm32 target,
#                      wasm-bindgen-cli at the locked version, npm dev dependencies)
#   ./build.sh build   the generated TS contract, wasm (release) + wasm-bindgen + TypeScript
#                      bundle into dist/
#   ./build.sh serve   build, then serve dist/ on http://127.0.0.1:8080
#   ./build.sh test    every test: the generated contract checked (not rewritten), TypeScript
#                      units, native Rust (CPU + wgpu on lavapipe), wasm build, browser (a
#                      failed stage skips the later ones; a summary says so)
#
# Every subcommand runs `setup` first when something is missing.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 vulkan-tools chromium chromium-driver)
WASM_TARGET=wasm32-unknown-unknown
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Mesa's Vulkan loader complains on every start without a runtime dir (headless machines).
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/ezigen-xdg-$(id -u)"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi

log() { printf '\n== %s\n' "$*" >&2; }

# The wasm-bindgen version in Cargo.lock; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

missing_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

# Dawn (npm `webgpu`, the f16 test) rejects Debian 12's Mesa 22 lavapipe; Mesa 25 from
# bookworm-backports works for it and for the native wgpu tests.
mesa_ok() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qE '^(2[5-9]|[3-9][0-9])\.'
}

install_backports_mesa() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Package sources are changed only on the system this recipe was made for (Debian 12); anywhere
  # else the script says what is needed and leaves the system's sources alone.
  if ! grep -qs '^VERSION_CODENAME=bookworm$' /etc/os-release || ! grep -qs '^ID=debian$' /etc/os-release; then
    echo "Mesa 25 or newer (mesa-vulkan-drivers, for lavapipe) is needed and not installed; this is not Debian 12," >&2
    echo "so no package source is added: install Mesa >= 25 with your system's package manager, then run this again." >&2
    return 1
  fi
  log "apt: installing Mesa 25 (lavapipe) from bookworm-backports"
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null
}

need_setup() {
  [ -n "$(missing_apt)" ] && return 0
  mesa_ok || return 0
  [ -d node_modules/webgpu ] || return 0
  rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET" || return 0
  [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$(wasm_bindgen_version)" ] || return 0
  [ -d node_modules/playwright-core ] && [ -d node_modules/esbuild ] && [ -d node_modules/binaryen ] || return 0
  [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
  return 1
}

setup() {
  local missing
  missing=$(missing_apt)
  if [ -n "$missing" ]; then
    log "apt: installing $missing"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  mesa_ok || install_backports_mesa
  if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
    log "rustup: adding $WASM_TARGET"
    rustup target add "$WASM_TARGET"
  fi
  [ -f Cargo.lock ] || cargo generate-lockfile
  local want
  want=$(wasm_bindgen_version)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    log "cargo: installing wasm-bindgen-cli $want (the version in Cargo.lock)"
    # No --locked: the registry lacks one of its locked dependency versions.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/esbuild ] || [ ! -d node_modules/webgpu ] || [ ! -d node_modules/binaryen ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm: installing dev dependencies (no browser download)"
    npm ci --no-audit --no-fund
  fi
}

ensure_setup() {
  if need_setup; then setup; fi
  export PATH="$HOME/.cargo/bin:$PATH"
}

build_wasm() {
  log "wasm: cargo build (profile wasm-release, CPU backend left out)"
  cargo build --profile wasm-release --target "$WASM_TARGET" -p ezigen --lib \
    --no-default-features --features web
  # wasm-ld wraps every export in a `.command_export` that re-runs all static constructors when
  # the module never calls `__wasm_call_ctors` itself (web.rs::start does): it once cost 40 % of
  # the worker's time (docs/benchmarks.md). The wrappers' names are in the linker's name section.
  log "check: the wasm runs its static constructors once"
  if grep -qa '\.command_export' "target/$WASM_TARGET/wasm-release/ezigen.wasm"; then
    echo "the wasm re-runs its constructors on every export call (.command_export wrappers): does web.rs::start still call __wasm_call_ctors?" >&2
    return 1
  fi
  log "wasm-bindgen"
  rm -rf www/pkg
  # Without the function-name section (5.9 of 35 MB): panics keep their messages, stack traces
  # show wasm-function[N] instead of names.
  wasm-bindgen --target web --remove-name-section --out-dir www/pkg "target/$WASM_TARGET/wasm-release/ezigen.wasm"
  # binaryen's size optimisation (npm binaryen, pinned in package.json; Debian's is too old for
  # rustc's output). The features are those rustc enables for wasm32 (read from the module's
  # target_features section), named so that wasm-opt neither drops nor assumes any. Measured:
  # 14.2 MB raw / 2.96 MB gzipped → 11.0 / 3.08 MB, about 2 min 50 s on one core
  # (docs/benchmarks.md). EZIGEN_WASM_OPT=0 skips it (quicker local iterations).
  if [ "${EZIGEN_WASM_OPT:-1}" != 0 ]; then
    log "wasm-opt -Oz"
    node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-multivalue --enable-reference-types \
      www/pkg/ezigen_bg.wasm -o www/pkg/ezigen_bg.opt.wasm
    mv www/pkg/ezigen_bg.opt.wasm www/pkg/ezigen_bg.wasm
  fi
}

build_web() {
  log "TypeScript: type check and bundle (content-hashed names, see www/tools/build-web.mjs)"
  npx tsc -p www/tsconfig.json
  # Replaces everything in dist/ but dist/models; index.html, sw.js and asset-manifest.json name
  # this build's main.<hash>.js, worker.<hash>.js, style.<hash>.css and ezigen_bg.<hash>.wasm.
  node www/tools/build-web.mjs --out dist
  local wasm raw gz
  wasm=$(ls dist/ezigen_bg.*.wasm)
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  log "dist/ ready: $(basename "$wasm") $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
}

build_native_cli() {
  log "native CLI (converts the built-in tiny model for the page)"
  cargo build --release -p ezigen --bin ezigen
}

# The generated TypeScript contract. `build` rewrites a stale www/src/generated/contract.ts and
# says so (commit it); `test` (EZIGEN_CONTRACT=check) fails on a stale file instead of rewriting
# it, before anything that reads it runs.
build_contract() {
  local out=www/src/generated/contract.ts tmp
  tmp=$(mktemp)
  ./target/release/ezigen schema --out "$tmp"
  if cmp -s "$tmp" "$out"; then
    rm -f "$tmp"
    log "contract: $out is up to date"
    return 0
  fi
  if [ "${EZIGEN_CONTRACT:-write}" = check ]; then
    diff -u "$out" "$tmp" | head -40 >&2 || true
    rm -f "$tmp"
    echo "$out is stale: run ./build.sh build (or ./target/release/ezigen schema --out $out) and commit it" >&2
    return 1
  fi
  mv "$tmp" "$out"
  log "contract: $out was stale and is regenerated from the Rust side: commit it"
}

build_models() {
  log "models: the built-in tiny random-weight model, converted into dist/models/"
  ./target/release/ezigen convert --tiny --out dist/models --shard-mb 1
}

build() {
  build_native_cli
  build_contract
  build_wasm
  build_web
  build_models
}

check_boundary() {
  log "check: only crate/src/web.rs uses wasm_bindgen/js_sys/web_sys"
  local offenders
  offenders=$(grep -rlE '\b(wasm_bindgen|js_sys|web_sys)\b' crate/src --include='*.rs' | grep -v '^crate/src/web.rs$' || true)
  if [ -n "$offenders" ]; then
    echo "wasm-bindgen used outside web.rs: $offenders" >&2
    return 1
  fi
  log "check: the CPU reference backend is not in the wasm bundle"
  if cargo tree --target "$WASM_TARGET" -p ezigen --no-default-features --features web -e normal 2>/dev/null \
      | grep -qE 'burn-(flex|ndarray)'; then
    echo "the wasm build pulls a CPU backend" >&2
    return 1
  fi
}

check_contract() {
  build_native_cli
  build_contract
}

test_native() {
  log "native tests (CPU reference + wgpu on the machine's Vulkan adapter)"
  cargo build --release --workspace --bins --tests
  # Every test binary runs even when one fails; the exit status still reports the failure.
  # Checks a test leaves out on this machine (f16 without shader-f16) are written to
  # $EZIGEN_SKIP_LOG (`SKIP <test>: …`) and listed after the run, so a skip is never mistaken for
  # a pass.
  export EZIGEN_SKIP_LOG="$ROOT/target/skipped-checks.txt"
  rm -f "$EZIGEN_SKIP_LOG"
  cargo test --release --workspace --no-fail-fast
  if [ -s "$EZIGEN_SKIP_LOG" ]; then
    log "native tests: $(sort -u "$EZIGEN_SKIP_LOG" | wc -l) check(s) skipped on this machine"
    sort -u "$EZIGEN_SKIP_LOG" | sed 's/^/  /' >&2
  else
    log "native tests: no check skipped"
  fi
}

test_unit() {
  log "TypeScript unit tests (node --test)"
  node tests/unit/build.mjs
  node --test tests/unit/
}

test_browser() {
  log "browser tests (headless Chromium via playwright-core, two test files at a time)"
  # One Chromium on SwiftShader keeps about 1.3 of 2 cores busy (its GPU process compiles each
  # kernel on one thread); two files at a time keep both busy: 644–679 s against about 1,080 s one
  # at a time on 2 cores (docs/benchmarks.md). Every file has its own server, port and profiles.
  node --test --test-concurrency=2 tests/browser/
}

cmd=${1:-help}
case "$cmd" in
  setup) setup ;;
  build) ensure_setup; build ;;
  serve)
    ensure_setup
    build
    log "serving"
    exec node www/serve.mjs --dir dist --port "${PORT:-8080}" --host 127.0.0.1
    ;;
  test)
    ensure_setup
    start=$(date +%s)
    # Each stage runs only when the ones before it passed; the summary names what ran, what
    # failed and what was skipped.
    summary=()
    status=0
    # The contract is checked first (the CLI that writes it is built for it), so no stage reads a
    # stale generated file and `build` below never rewrites it. (Building the wasm in the
    # background beside the native stages gained nothing: 2,179 s for both together against
    # 1,365 + 780 s one after the other, both cores busy throughout.)
    export EZIGEN_CONTRACT=check
    for stage in check_boundary check_contract test_unit test_native build test_browser; do
      if [ "$status" -ne 0 ]; then
        summary+=("$stage: skipped (an earlier stage failed)")
        continue
      fi
      t0=$(date +%s)
      # A subshell outside any condition, so `set -e` still stops the stage at its first error.
      set +e
      ( set -e; "$stage" )
      rc=$?
      set -e
      if [ "$rc" -eq 0 ]; then
        summary+=("$stage: passed ($(( $(date +%s) - t0 )) s)")
      else
        status=1
        summary+=("$stage: FAILED ($(( $(date +%s) - t0 )) s)")
      fi
    done
    log "summary"
    printf '  %s\n' "${summary[@]}" >&2
    if [ "$status" -ne 0 ]; then
      log "tests FAILED after $(( $(date +%s) - start )) s"
      exit 1
    fi
    log "all tests passed in $(( $(date +%s) - start )) s"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
