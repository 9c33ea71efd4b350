#!/usr/bin/env bash
# Page speed of the release build in Debian's chromium: Lighthouse 12 (Largest Contentful
# Paint, Total Blocking Time, bytes) and a first and second visit over CDP (bytes over the
# network, requests the cache answered, time until hydrated), on the home page and a demo
# user's page, under slow 4G and 4x CPU. Never fails on the numbers.
#
# Usage: bench/pages.sh
#   BENCH_RUNS=3            runs per page (medians are printed)
#   BENCH_PAGES=/,/@tweetgen_neko   the pages
#   BENCH_PORT=3300         the server's port
#   BENCH_BUILD=1           `cargo leptos build --release --precompress` first (0: measure
#                           the build already in target/release and target/site)
#
# Prepares, idempotently: bench/pages/node_modules (lighthouse 12.2.3, playwright-core) by
# `npm ci`. Runs the server as the browser tests do: one instance with the demo users on a
# throwaway PostgreSQL cluster (tweetgen-pg). Raw runs: target/bench-pages/runs.json.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_command_line bench/pages.sh "$@"

if [[ ${BENCH_BUILD:-1} == 1 ]]; then
    echo "bench/pages.sh: cargo leptos build --release --precompress" >&2
    cargo leptos build --release --precompress >&2
fi
cargo build -q -p tweetgen-pgharness --bin tweetgen-pg
if [[ ! -d bench/pages/node_modules/lighthouse ]]; then
    (cd bench/pages && npm ci --no-audit --no-fund >&2)
fi
mkdir -p target/bench-pages
# `cargo leptos serve` (scripts/run.sh) leaves its debug site in target/site, under other names.
wasm_hash=$(sed -n 's/^wasm: //p' target/release/hash.txt 2>/dev/null || true)
if [[ ! -f target/site/pkg/tweetgen.$wasm_hash.wasm ]]; then
    echo "bench/pages.sh: target/site is not the release build's (target/release/hash.txt names" \
        "tweetgen.${wasm_hash:-?}.wasm); run without BENCH_BUILD=0" >&2
    exit 1
fi

port=${BENCH_PORT:-3300}
echo "date:      $(date -u '+%F %T') UTC"
echo "command:   $BENCH_COMMAND"
wasm=$(find target/site/pkg -name '*.wasm' | head -1)
echo "build:     git $(git describe --always --dirty); $(basename "$wasm") $(stat -c %s "$wasm") bytes" \
    "(brotli: $(stat -c %s "$wasm.br" 2>/dev/null || echo none); gzip: $(stat -c %s "$wasm.gz" 2>/dev/null || echo none))"
echo "browser:   $(/usr/bin/chromium --version 2>/dev/null)"
echo
# shellcheck disable=SC2016  # expanded by the inner bash, on purpose
TWEETGEN__SERVER__PORT=$port TWEETGEN__SEED_DEMO_USERS=true LEPTOS_SITE_ROOT=target/site RUST_LOG=warn \
    target/debug/tweetgen-pg run -- bash -c '
        target/release/tweetgen-server & server=$!
        trap "kill -TERM $server 2>/dev/null; wait $server" EXIT
        for _ in $(seq 100); do curl -fs "http://127.0.0.1:$0/readyz" >/dev/null && break; sleep 0.2; done
        node bench/pages/measure.mjs "http://127.0.0.1:$0" target/bench-pages/runs.json' "$port"
