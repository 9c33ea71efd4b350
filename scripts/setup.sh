#!/usr/bin/env bash
# Installs what tweetgen needs on a Debian 12 machine with Rust, skipping what is
# already there at the right version. Safe to run any number of times.
#   scripts/setup.sh run    what the dev server needs
#   scripts/setup.sh test   that, plus the browser and test tools
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

purpose=${1:-test}
CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs a newer rustc than 1.95
BINARYEN_VERSION=132.0.0      # Debian's binaryen (108) produces wasm that fails to hydrate
# wasm-bindgen-cli must equal the wasm-bindgen crate pinned in Cargo.toml.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages -------------------------------------------------------
packages=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || packages+=(postgresql)
command -v npm >/dev/null || packages+=(nodejs npm)
command -v pkg-config >/dev/null || packages+=(pkg-config)
# IPADIC sources for the segmentation dictionary.
[ -f /usr/share/mecab/dic/ipadic/matrix.def ] || packages+=(mecab-ipadic)
# The share card images (and Japanese glyphs in screenshots).
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || packages+=(fonts-noto-cjk)
if [ "$purpose" = test ]; then
  command -v chromium >/dev/null || packages+=(chromium)
fi
# The cutover's end-to-end test runs the production topology in network namespaces:
# iproute2 (ip, tc), nftables for the security groups, haproxy for the load balancer.
if [ "$purpose" = test ]; then
  [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || packages+=(iproute2)
  [ -x /usr/sbin/nft ] || packages+=(nftables)
  [ -x /usr/sbin/haproxy ] || packages+=(haproxy)
fi
# systemd-analyze verifies deploy/'s units (terraform/tests/test_deploy_files.py).
if [ "$purpose" = test ]; then
  command -v systemd-analyze >/dev/null || packages+=(systemd)
fi
# The arm64 release (scripts/package-arm64.sh) and its smoke run under QEMU.
if [ "$purpose" = test ]; then
  command -v aarch64-linux-gnu-gcc >/dev/null || packages+=(gcc-aarch64-linux-gnu)
  command -v qemu-aarch64-static >/dev/null || packages+=(qemu-user-static)
fi
if [ ${#packages[@]} -gt 0 ]; then
  log "apt packages: ${packages[*]}"
  as_root apt-get update -qq
  # chromium's dependencies occasionally fail to configure on the first pass.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" \
    || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi

# --- Rust targets and tools ------------------------------------------------
rustup target list --installed | grep -qx wasm32-unknown-unknown || {
  log "rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}
if [ "$purpose" = test ] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  log "rustup target aarch64-unknown-linux-gnu (the Graviton release)"
  rustup target add aarch64-unknown-linux-gnu
fi
if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION"; then
  log "cargo-leptos $CARGO_LEPTOS_VERSION (about 14 minutes on 2 cores)"
  # Without LTO it builds in half the time and runs just as well.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  log "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: its lock file pins a yanked dependency.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if [ "$purpose" = test ] && ! command -v cargo-nextest >/dev/null; then
  log "cargo-nextest"
  cargo install cargo-nextest --locked
fi

# --- Segmentation dictionary -------------------------------------------------
# Compiled from Debian's IPADIC sources (~1 s once the engine's binary is built);
# the file is architecture-independent, so it can be shipped with a release.
if [ ! -s "$TWEETGEN_DICTIONARY" ]; then
  log "IPADIC dictionary into ${TWEETGEN_DICTIONARY#"$PWD"/}"
  mkdir -p "$(dirname "$TWEETGEN_DICTIONARY")"
  cargo run --quiet -p tweetgen-markov --bin tweetgen-markov -- dictionary --out "$TWEETGEN_DICTIONARY"
fi

# --- Python tools: Terraform checks (scripts/check-terraform.sh), moto ----------
# Python tools in venvs of their own, made again only when a pin changes.
python_tools() { # VENV REQUIREMENTS_FILE
  local venv=$1 requirements=$2 frozen
  frozen=$("$venv/bin/pip" freeze 2>/dev/null || true)
  if grep -v '^#' "$requirements" | grep -qvixF -f <(echo "$frozen"); then
    log "python tools into $venv ($requirements)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --requirement "$requirements"
  fi
}
if [ "$purpose" = test ]; then
  python_tools .venv/terraform terraform/tests/requirements.txt
  python_tools .venv/checkov terraform/tests/requirements-checkov.txt
  # moto's server answers Route53 and RDS in the cutover test (infra/tests/cutover.rs).
  python_tools .venv/moto infra/tests/requirements-moto.txt
fi

# --- npm -------------------------------------------------------------------
# cargo-leptos downloads wasm-opt from GitHub unless one is on PATH (env.sh puts
# .tools first); release builds run it.
if ! .tools/node_modules/.bin/wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  log "binaryen $BINARYEN_VERSION (wasm-opt) into .tools/"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
fi
if [ "$purpose" = test ] && ! (cd end2end && npm ls --silent >/dev/null 2>&1); then
  log "end2end npm packages"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi
log "ready ($purpose)"
