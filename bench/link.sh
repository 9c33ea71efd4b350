#!/usr/bin/env bash
# Migration benchmark over a real, capped link: the source cluster and the migration tool
# on a `vps` host, the target cluster on an `rds` host (network namespaces, firewalled as the
# security groups are), the vps link capped with `tc tbf` at each rate; `pgcopydb clone` and
# `tweetgen-infra migrate copy` in the same placement. Prints wall time, the bytes that
# crossed the link, link utilisation (average, busy share, idle head and tail), how close
# each tool got to the link's bound, pgcopydb/ours per rate, and a projection to the old
# service's 294 GB. Never fails on the numbers; exits 1 if a tool fails or leaves a target
# whose row counts differ from the source's. Needs root (network namespaces).
#
# Usage: bench/link.sh               (scale 1: ~4 GB, bench/migrate.sh's dataset)
#   BENCH_SCALE=1.0          the dataset's scale (bench/migrate.sh's; 0.02 for a quick look)
#   BENCH_MARKOV_KEY=serial  the dataset's markov_transitions key (bench/migrate.sh's)
#   BENCH_LINK_RATES=100,1000   link rates in Mbit/s, in this order
#   BENCH_METHODS=pgcopydb,ours-after-data,ours   which tools, in this order (also: ours-index-order)
#   BENCH_JOBS=2             --table-jobs/--index-jobs of pgcopydb, --jobs of ours
#   BENCH_SPLIT=             --split-tables-larger-than for both (default 256MB x scale, >= 1MB)
#   BENCH_SETTLE=5           seconds of rest before each run (after CHECKPOINT and sync)
#   BENCH_DURABLE=1          fsync, synchronous_commit, full_page_writes on (0: the harness's, off)
#   BENCH_PG_SETTINGS=       more server settings for both clusters, "name=value name=value"
#   BENCH_PROJECT_GB=294     the size the projection is for (the old service's database)
#
# Prepares, idempotently: nftables, iproute2, pgcopydb and PostgreSQL from apt (only if
# missing); the release tweetgen-infra and the driver (bench/link, tweetgen-link-bench); the
# dataset, by `BENCH_METHODS= bench/migrate.sh` (which generates it into
# target/bench-migrate/src-scale<scale>-<key> only when it is missing or stale; its output goes
# to target/bench-link/dataset.log). Logs of every run are in target/bench-link/logs/.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_command_line bench/link.sh "$@"
export PATH="$PATH:/usr/sbin:/sbin"
if ((EUID != 0)); then
    echo "bench/link.sh: network namespaces need root" >&2
    exit 1
fi
mkdir -p target/bench-link

# --- apt: the namespaces' tools, pgcopydb (Debian's 0.10), PostgreSQL
mapfile -t missing < <(bench_missing_postgres)
command -v nft >/dev/null || missing+=(nftables)
{ command -v ip && command -v tc; } >/dev/null || missing+=(iproute2)
bench_apt_install bench/link.sh target/bench-link/apt.log "${missing[@]}"

# --- our CLI (release) and the driver
echo "bench/link.sh: cargo build --release -p tweetgen-infra; cargo build -p tweetgen-link-bench" >&2
cargo build --release -q -p tweetgen-infra
cargo build -q -p tweetgen-link-bench

# --- the dataset: bench/migrate.sh's, generated only if missing or stale
scale=$(printf '%g' "${BENCH_SCALE:-1.0}")
key=${BENCH_MARKOV_KEY:-serial}
echo "bench/link.sh: the dataset at scale $scale ($key key), by BENCH_METHODS= bench/migrate.sh" \
    "(log target/bench-link/dataset.log; generating it at scale 1 takes a few minutes, once)" >&2
if ! BENCH_METHODS='' bench/migrate.sh >target/bench-link/dataset.log 2>&1; then
    tail -20 target/bench-link/dataset.log >&2
    exit 1
fi
export BENCH_LINK_SOURCE_DIR=target/bench-migrate/src-scale$scale-$key
# The same default as bench/migrate.sh: 256 MiB x scale, at least 1 MiB, in bytes.
BENCH_SPLIT=${BENCH_SPLIT:-$(awk -v s="$scale" 'BEGIN { m = int(256 * s); if (m < 1) m = 1; printf "%d", m * 1048576 }')}
export BENCH_SPLIT
exec target/debug/tweetgen-link-bench
