#!/usr/bin/env bash
# Fuzzes the engine and the archive reader: builds the cargo-fuzz targets in
# markov/fuzz and archive/fuzz and runs each for SECONDS_PER_TARGET seconds
# (default 30). Exits non-zero if any target crashes, naming the input that did
# it. Safe to run any number of times.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

seconds=${1:-30}
fuzz_dirs=(markov/fuzz archive/fuzz)
# CI clones the repository with shared/ beside it.
shared_corpus=../shared/corpus

log() { printf '\033[1mfuzz:\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools -------------------------------------------------------------------
# libfuzzer-sys compiles libFuzzer's C++ sources with the system compiler.
if ! command -v c++ >/dev/null; then
  log "apt package g++"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes nightly-only flags (sanitizer coverage, -Zsanitizer); this
# lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
# No sanitizer by default, although ASan works on stable (FUZZ_SANITIZER=address):
# the engine has no unsafe code (vibrato a little SIMD) and zstd's C code is not
# instrumented anyway, so ASan finds little that Rust's own checks miss, and it
# cuts executions per second by 3-6x (20-90x with its default 256 MB quarantine,
# which the engine's large zstd buffers churn through: hence the smaller one).
sanitizer=${FUZZ_SANITIZER:-none}
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}

# --- seeds -------------------------------------------------------------------
# Written at run time into each target's corpus (not committed: the models are
# binary and their format may change). libFuzzer adds what it finds beside them.
log "seed corpora"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cat >"$seeds/tweets.txt" <<'EOF'
RT @someone: 今日のランチ https://example.com/a?b=1 #グルメ
@friend ありがとう！また行こうね(^_^)
見て2024年12月25日 12:30 🎄👨‍👩‍👧 🇯🇵 3.14 1,000円（´・ω・`）
Don't panic, it's only rock'n'roll &amp; &lt;3 &#12354;&#x3044; &bogus; (笑)
今日は　Rust を書いた。	タブも　全角スペースも
ホスト名を反転させてリターン(return) キーを打てばよい。
EOF
for name in ja_sentences en_fortunes; do
  if [ -f "$shared_corpus/$name.txt" ]; then
    head -n 8 "$shared_corpus/$name.txt" >"$seeds/$name.txt"
  else
    log "no $shared_corpus/$name.txt: seeding from the inline sentences only"
  fi
done

fuzz_dir=markov/fuzz
mkdir -p "$fuzz_dir"/corpus/{tokenize,decode,decode_damaged}
order=0
for text in "$seeds"/*.txt; do
  name=$(basename "$text" .txt)
  order=$((order % 3 + 1))
  cp "$text" "$fuzz_dir/corpus/tokenize/seed-$name"
  cp "$text" "$fuzz_dir/corpus/decode_damaged/seed-$name"
  # decode_damaged's input format: TEXT, NUL, order byte, edits (flip byte 3 of the payload).
  { cat "$text"; printf '\0\001\000\003\000\377'; } >"$fuzz_dir/corpus/decode_damaged/seed-$name-edited"
  # The dev profile: the test build (and setup.sh's dictionary build) have already compiled it.
  cargo run --quiet -p tweetgen-markov --bin tweetgen-markov -- \
    train --input "$text" --out "$fuzz_dir/corpus/decode/seed-$name-order$order" --order "$order" --raw
done

# The archive reader's: the browser tests' real-format archives and tweets files
# (those under 1 MB, libFuzzer's input size) as uploads, and a tweets file in
# two parts as the zip target's input (a layout byte first, parts split at 0xFF).
fuzz_dir=archive/fuzz
mkdir -p "$fuzz_dir"/corpus/{upload,tweets_file_in_zip}
python3 end2end/fixtures/make_archives.py "$seeds/archives" >/dev/null
find "$seeds/archives" -type f -size -1M ! -name '*.json' \
  -exec sh -c 'cp "$1" "$2/seed-$(basename "$1")"' _ {} "$fuzz_dir/corpus/upload" \;
printf 'window.YTD.tweets.part0 = [ { "tweet" : { "id_str" : "1", "full_text" : "Hello &amp; \\u3042 RT @x" } } ]' \
  >"$seeds/tweets.js"
cp "$seeds/tweets.js" "$fuzz_dir/corpus/upload/seed-inline-tweets.js"
{ printf '\0'; cat "$seeds/tweets.js"; printf '\377'; cat "$seeds/tweets.js"; } \
  >"$fuzz_dir/corpus/tweets_file_in_zip/seed-two-parts"

log "seeds ready after ${SECONDS}s"

# --- fuzzing -----------------------------------------------------------------
failed=()
for fuzz_dir in "${fuzz_dirs[@]}"; do
  log "building the fuzz targets in $fuzz_dir (sanitizer: $sanitizer)"
  cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer"
  logs="$fuzz_dir/target/logs"
  mkdir -p "$logs"
  for target in $(cargo fuzz list --fuzz-dir "$fuzz_dir"); do
    log "$target for ${seconds}s (output in $logs/$target.log)"
    started=$(date +%s)
    # -timeout: no input may take 10 s (the default, 20 minutes, outlasts the run).
    if cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" "$target" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$logs/$target.log" 2>&1; then
      grep -E '^(tokenize:|INFO: seed corpus|#[0-9]+[[:space:]]+INITED|Done |stat::(number_of|average|slowest|peak))' \
        "$logs/$target.log" || true
      log "$target: no crash in $(($(date +%s) - started))s"
    else
      # The report, from the panic or sanitizer message on: its stack and the failing input.
      awk '/panicked at|==ERROR: |ERROR: libFuzzer/ { found = 1 } found' "$logs/$target.log" | grep . \
        || tail -n 60 "$logs/$target.log"
      failed+=("$fuzz_dir $target")
    fi
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  for failure in "${failed[@]}"; do
    read -r fuzz_dir target <<<"$failure"
    input=$(ls -t "$fuzz_dir/artifacts/$target"/* 2>/dev/null | head -n 1 || true)
    log "$target FAILED: input ${input:-not saved}; reproduce with" \
      "RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir $fuzz_dir --sanitizer $sanitizer $target ${input:-}"
  done
  exit 1
fi
log "all targets ran ${seconds}s without a crash (${SECONDS}s in all)"
