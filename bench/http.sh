#!/usr/bin/env bash
# HTTP generation benchmark: POST /api/generate_tweet through the release server under
# wrk on loopback, with BENCH_USERS users' models in PostgreSQL, warm (every model in the
# server's cache) and cold (cache 0: every request reads its model from PostgreSQL), and
# the old service's request path (markovify from_json + make_sentence(tries=100)) on the
# same users' lines in the same run. Prints the machine, the versions, one table per
# measure and a summary with targets and PASS/MISS. Never fails on a missed target.
#
# Usage: bench/http.sh            (about 5.5 minutes on 2 cores once built and seeded)
#   BENCH_USERS=1000            users in the database (half Japanese, half English)
#   BENCH_TWEETS=3200           lines each user teaches (the old service's per-user size)
#   BENCH_DURATION=30           seconds of each headline wrk run
#   BENCH_SWEEP_DURATION=10     seconds of each run of the connection sweep
#   BENCH_CONNECTIONS=2,4,8,16,32,64,128   the sweep of wrk connection counts
#   BENCH_WRK_THREADS=1         wrk threads
#   BENCH_DB_POOL=              the server's database.max_connections (default: its own, 20)
#   BENCH_WARM_CACHE_MIB=       the warm server's model cache (default 4 MiB per user)
#   BENCH_MK_USERS=40 BENCH_MK_SECONDS=20   the old path's sample users and run time
#   BENCH_PERF=1                add `perf record -a` profiles of a warm and a cold run (separate runs)
#
# Prepares, idempotently: wrk, MeCab + UTF-8 IPADIC (apt, only if missing), the venv
# .venv/bench with markovify==0.9.4, the release server, tweetgen-pg and the dictionary.
# The PostgreSQL cluster is kept in target/bench-http/pg-<users>u-<lines>t and reused while
# it holds the same users trained on the same inputs (the corpora, the committed markov/ and
# migrations/); other work files go to target/bench-http/. Delete that directory to start over.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_command_line bench/http.sh "$@"

for corpus in ../shared/corpus/ja_sentences.txt ../shared/corpus/en_fortunes.txt; do
    if [[ ! -f $corpus ]]; then
        echo "bench/http.sh: $corpus is missing (the shared corpus goes beside the repo)" >&2
        exit 1
    fi
done
mkdir -p target/bench-http

# --- apt: the load generator, MeCab and its UTF-8 dictionary (the old path), the IPADIC
# sources our dictionary is built from, PostgreSQL (the harness runs its binaries), perf
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v mecab >/dev/null || missing+=(mecab)
[[ -d /var/lib/mecab/dic/ipadic-utf8 ]] || missing+=(mecab-ipadic-utf8)
[[ -d /usr/share/mecab/dic/ipadic ]] || missing+=(mecab-ipadic)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [[ ${BENCH_PERF:-0} == 1 ]] && ! command -v perf >/dev/null; then
    missing+=(linux-perf)
fi
bench_apt_install bench/http.sh target/bench-http/apt.log "${missing[@]}"

# --- markovify 0.9.4 in its own venv (shared with bench/engine.sh)
bench_markovify_venv bench/http.sh
venv=.venv/bench

# --- the release server (the page assets are not needed for the API), the harness, the dictionary
echo "bench/http.sh: cargo build --release -p tweetgen-server; cargo build -p tweetgen-pgharness" >&2
cargo build --release -q -p tweetgen-server
cargo build -q -p tweetgen-pgharness --bin tweetgen-pg
dictionary=${TWEETGEN_DICTIONARY:-.tools/ipadic.vibrato}
if [[ ! -s $dictionary ]]; then
    echo "bench/http.sh: building the dictionary $dictionary" >&2
    cargo build --release -q -p tweetgen-markov
    mkdir -p "$(dirname "$dictionary")"
    target/release/tweetgen-markov dictionary --out "$dictionary"
fi
export TWEETGEN_DICTIONARY=$dictionary

# One kept cluster per (users, lines each): a quick small run does not undo the seeding of a large one.
export BENCH_USERS=${BENCH_USERS:-1000} BENCH_TWEETS=${BENCH_TWEETS:-3200}
export BENCH_PG_DIR=target/bench-http/pg-${BENCH_USERS}u-${BENCH_TWEETS}t
exec target/debug/tweetgen-pg run --data-dir "$BENCH_PG_DIR" -- "$venv/bin/python" bench/http/bench.py "$@"
