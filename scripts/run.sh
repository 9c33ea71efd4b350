#!/usr/bin/env bash
# Serves tweetgen on http://127.0.0.1:3000 with demo users.
# Without DATABASE_URL: a PostgreSQL cluster of its own in target/dev-pg (kept
# between runs). Extra arguments go to `cargo leptos serve` (e.g. --release).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
source scripts/env.sh

export TWEETGEN__SEED_DEMO_USERS=${TWEETGEN__SEED_DEMO_USERS:-true}
# X cannot be reached from a development machine without an X app: sign in
# against the built-in stand-in unless a client id is configured.
if [ -z "${TWEETGEN__AUTH__CLIENT_ID:-}" ]; then
  export TWEETGEN__AUTH__STANDIN=${TWEETGEN__AUTH__STANDIN:-true}
fi
if [ -n "${DATABASE_URL:-}" ]; then
  exec cargo leptos serve "$@"
fi
cargo build --quiet -p tweetgen-pgharness --bin tweetgen-pg
exec target/debug/tweetgen-pg run --data-dir target/dev-pg -- cargo leptos serve "$@"
