#!/usr/bin/env bash
# Every test: formatting, lints, unit and integration tests against real
# PostgreSQL clusters, then the release build in Debian's chromium (Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
source scripts/env.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "format"
cargo fmt --all --check

step "clippy"
# The wasm crate is built (and warned about) by cargo-leptos below.
cargo clippy --workspace --exclude tweetgen-frontend --all-targets --quiet -- -D warnings

step "terraform: fmt, invariants, references, checkov, trivy (offline)"
scripts/check-terraform.sh

step "unit and integration tests"
cargo nextest run --workspace --exclude tweetgen-frontend --no-fail-fast

step "fuzzing the engine (tokenizer, cleaning, model decoder) and the archive reader, 20 s a target"
scripts/fuzz.sh 20

step "release build (server + wasm, wasm-opt from .tools; hashed names, precompressed)"
cargo leptos build --release --precompress
cargo build --quiet -p tweetgen-pgharness --bin tweetgen-pg

step "browser tests"
(cd end2end && npx playwright test)

step "arm64 release: cross-compiled server under qemu against PostgreSQL"
scripts/arm64-smoke.sh
