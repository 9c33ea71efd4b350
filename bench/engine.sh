#!/usr/bin/env bash
# Engine benchmark: tweetgen-markov against markovify 0.9.4 (the old service's engine)
# on ../shared/corpus/ja_sentences.txt (first 3,200 lines and all 45,000; orders 2 and 3),
# in one run. Prints the machine, the versions, one table per measure (ours, markovify,
# ratio, target, PASS/MISS), an order sweep, and generation from mixes (a blend of 2, 5 or
# 10 models of slices of the 45,000 lines, weights 1, and two with unequal weights) against
# one model of them all. Never fails on a missed target.
#
# Usage: bench/engine.sh            (about 2.5 min on 2 cores once set up, the mixes ~30 s of it)
#   BENCH_SECONDS=5   wall time of each generation run, per side
#   TWEETGEN_DICTIONARY=.tools/ipadic.vibrato   our segmentation dictionary (built if missing)
#
# Prepares, idempotently: MeCab + UTF-8 IPADIC and GNU time from apt (only if missing),
# a venv .venv/bench with markovify==0.9.4, the release CLI, the dictionary.
# Work files (corpus slices, wakati text, models, JSON) go to target/bench-engine/.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

corpus=../shared/corpus/ja_sentences.txt
if [[ ! -f $corpus ]]; then
    echo "bench/engine.sh: $corpus is missing (the shared corpus goes beside the repo)" >&2
    exit 1
fi
mkdir -p target/bench-engine

# --- apt: mecab, its UTF-8 dictionary, the IPADIC sources our dictionary is built from, GNU time
missing=()
command -v mecab >/dev/null || missing+=(mecab)
[[ -d /var/lib/mecab/dic/ipadic-utf8 ]] || missing+=(mecab-ipadic-utf8)
[[ -d /usr/share/mecab/dic/ipadic ]] || missing+=(mecab-ipadic)
[[ -x /usr/bin/time ]] || missing+=(time)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
bench_apt_install bench/engine.sh target/bench-engine/apt.log "${missing[@]}"

# --- markovify 0.9.4 in its own venv
bench_markovify_venv bench/engine.sh
venv=.venv/bench

# --- our CLI (always rebuilt: cargo does nothing when it is fresh) and dictionary
echo "bench/engine.sh: cargo build --release -p tweetgen-markov" >&2
cargo build --release -q -p tweetgen-markov
dictionary=${TWEETGEN_DICTIONARY:-.tools/ipadic.vibrato}
if [[ ! -s $dictionary ]]; then
    echo "bench/engine.sh: building the dictionary $dictionary" >&2
    mkdir -p "$(dirname "$dictionary")"
    target/release/tweetgen-markov dictionary --out "$dictionary"
fi

exec "$venv/bin/python" bench/engine/bench.py --dictionary "$dictionary" "$@"
