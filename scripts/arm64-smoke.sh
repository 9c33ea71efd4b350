#!/usr/bin/env bash
# Smoke test of the arm64 release artefact: builds it (scripts/package-arm64.sh),
# unpacks it as an EC2 instance does, runs the aarch64 server under
# qemu-aarch64-static against a throwaway PostgreSQL cluster, and checks that it
# becomes ready, serves the site's assets, generates a tweet and shows it on its
# permalink page.
#   scripts/arm64-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

READY_TIMEOUT_SECONDS=300 # emulated start-up: dictionary load and demo training
log() { printf '\033[1marm64-smoke:\033[0m %s\n' "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

# Runs inside `tweetgen-pg run`, which sets DATABASE_URL: start the server and probe it.
if [ "${1:-}" = --against-database ]; then
  release=$2
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  log "starting $(file -b "$release/bin/tweetgen-server" | cut -d, -f1-2) under qemu on port $port"
  # The settings the EC2 user-data writes, but for the address and the demo users.
  TWEETGEN__SERVER__PORT=$port TWEETGEN__SEED_DEMO_USERS=true TWEETGEN__LOG__FORMAT=json \
    LEPTOS_SITE_ROOT="$release/site" TWEETGEN__MARKOV__DICTIONARY="$release/share/ipadic.vibrato" \
    TWEETGEN__CARDS__REGULAR_FONT="$release/share/fonts/NotoSansCJK-Regular.ttc" \
    TWEETGEN__CARDS__BOLD_FONT="$release/share/fonts/NotoSansCJK-Bold.ttc" \
    qemu-aarch64-static -L /usr/aarch64-linux-gnu "$release/bin/tweetgen-server" >"$release/server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

  started=$SECONDS
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ]; do
    kill -0 $server 2>/dev/null || { cat "$release/server.log" >&2; fail "the server exited"; }
    [ $((SECONDS - started)) -lt $READY_TIMEOUT_SECONDS ] || fail "/readyz not 200 after ${READY_TIMEOUT_SECONDS}s"
    sleep 1
  done
  log "/readyz 200 after $((SECONDS - started)) s"
  grep -q '"segmenting Japanese with IPADIC"' "$release/server.log" || fail "the dictionary from the release was not used"

  curl -sf "$base/" >"$release/home.html" || fail "GET / failed"
  mapfile -t assets < <(grep -o '/pkg/tweetgen\.[A-Za-z0-9_-]*\.\(wasm\|js\|css\)' "$release/home.html" | sort -u)
  [ "${#assets[@]}" = 3 ] || fail "the home page names ${#assets[@]} hashed site files, not 3: ${assets[*]}"
  for asset in "${assets[@]}"; do
    headers=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip, br' "$base$asset")
    grep -q '^HTTP/1.1 200' <<<"$headers" || fail "$asset answered $(head -1 <<<"$headers")"
    grep -qi '^content-encoding: br' <<<"$headers" || fail "$asset was not sent precompressed with brotli"
    grep -qi '^cache-control: public, max-age=31536000, immutable' <<<"$headers" || fail "$asset is not cached as immutable"
  done
  log "site assets served from the release's site/, brotli, immutable: ${assets[*]}"

  generated=$(curl -sf -H 'Accept: application/json' --data-urlencode screen_name=tweetgen_en "$base/api/generate_tweet") \
    || fail "POST /api/generate_tweet failed"
  read -r id text < <(python3 -c 'import json, sys; g = json.load(sys.stdin); print(g["id"], g["text"])' <<<"$generated")
  [ -n "$text" ] || fail "empty generation: $generated"
  log "generated #$id: $text"
  curl -sf "$base/@tweetgen_en?tweet=$id" >"$release/page.html" || fail "GET /@tweetgen_en?tweet=$id failed"
  python3 -c '
import html, sys
page, text = html.unescape(open(sys.argv[1], encoding="utf-8").read()), sys.argv[2]
sys.exit(0 if text in page else 1)' "$release/page.html" "$text" || fail "the permalink page does not show the tweet"
  log "the permalink page /@tweetgen_en?tweet=$id shows it"
  card_type=$(curl -s -o "$release/card.png" -w '%{content_type}' "$base/card/tweetgen_en/$id.png")
  [ "$card_type" = image/png ] && [ "$(head -c 8 "$release/card.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] \
    || fail "the card image of tweet #$id is not a PNG ($card_type)"
  log "its card image renders with the release's fonts ($(stat -c %s "$release/card.png") bytes)"
  exit 0
fi

started=$SECONDS
command -v qemu-aarch64-static >/dev/null || fail "qemu-aarch64-static missing (scripts/setup.sh test installs it)"
tarball=$(scripts/package-arm64.sh)
cargo build --quiet -p tweetgen-pgharness --bin tweetgen-pg
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
tar -C "$workdir" -xzf "$tarball"
release=$(echo "$workdir"/tweetgen-*-linux-arm64)
# The paths the systemd units name exist where the instance unpacks the release,
# and systemd accepts the units (only those absent install paths may be reported).
for path in $(grep -ho '/opt/tweetgen/current/[^ ]*' "$release"/deploy/*.service | sort -u); do
  [ -e "$release/${path#/opt/tweetgen/current/}" ] || fail "$path, named in deploy/, is not in the release"
done
if command -v systemd-analyze >/dev/null; then
  problems=$(systemd-analyze verify "$release"/deploy/*.service "$release"/deploy/*.timer 2>&1 \
    | grep -v 'is not executable: No such file or directory' || true)
  [ -z "$problems" ] || fail "systemd-analyze verify: $problems"
fi
"${CARGO_TARGET_DIR:-target}/debug/tweetgen-pg" run -- "$0" --against-database "$release"
log "passed in $((SECONDS - started)) s ($(basename "$tarball"))"
