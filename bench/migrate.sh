#!/usr/bin/env bash
# Migration benchmark: a database like the old service's (users; markov_transitions, a row
# per Markov transition with text keys, ~20M rows; models, 20-200 KB bytea blobs; ~4 GB at
# scale 1) moved from one PostgreSQL cluster to another by `pg_dump | psql`,
# `pg_dump -Fd -jN` + `pg_restore -jN`, `pgcopydb clone` and `tweetgen-infra migrate copy`,
# in one run on the same two clusters. Prints the machine, the versions, the dataset, the
# disk, then wall time, MB/s and time_theirs/time_ours for each method, where the CPU and
# the disk went, and the tools' own summaries. Never fails on the numbers; exits 1 if a
# method fails or leaves a target that differs from the source.
#
# Usage: bench/migrate.sh            (scale 1: ~5 min to generate once, then the four methods)
#   BENCH_SCALE=1.0          1.0 = ~12,000 users, ~20M transitions, ~4 GB; 0.02 for a quick look
#   BENCH_JOBS=2             jobs of every parallel method (-j, --table-jobs/--index-jobs, --jobs)
#   BENCH_SPLIT=             --split-tables-larger-than for pgcopydb and ours (default 256MB x scale)
#   BENCH_METHODS=dump,dump-restore,pgcopydb,ours-after-data,ours-index-order,ours   which methods, in this order
#   BENCH_MARKOV_KEY=serial  serial: id bigserial PK + UNIQUE (user_id, state, next_word);
#                            natural: PRIMARY KEY (user_id, state, next_word) (pgcopydb 0.10
#                            then cannot split the table: it splits on integer keys only)
#   BENCH_DURABLE=1          fsync, synchronous_commit and full_page_writes on (PostgreSQL's
#                            defaults); 0 keeps the test harness's (all off)
#   BENCH_PG_SETTINGS=       more server settings for both clusters, "name=value name=value"
#   BENCH_SETTLE=10          seconds of rest before each method (after CHECKPOINT and sync)
#   BENCH_DISK_TEST_MB=1024  size of the disk probe (0 skips it)
#   BENCH_REGENERATE=1       generate the dataset again
#   BENCH_PERF=1             perf record the whole machine during each method; prints the top functions
#                            (needs perf: apt linux-perf, installed when asked)
#
# Prepares, idempotently: pgcopydb and PostgreSQL from apt (only if missing), the release
# tweetgen-infra and tweetgen-pg. The source cluster is kept in
# target/bench-migrate/src-scale<scale>-<key> and its dataset reused while the generator and
# the scale are the same; the target cluster is target/bench-migrate/dst (its database is
# dropped before each method); logs and work files go to target/bench-migrate/. Delete that
# directory to start over.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_command_line bench/migrate.sh "$@"
mkdir -p target/bench-migrate

# --- apt: pgcopydb (Debian's 0.10), the PostgreSQL server and clients the harness and the methods run
mapfile -t missing < <(bench_missing_postgres)
if [[ ${BENCH_PERF:-0} == 1 ]]; then
    command -v perf >/dev/null || missing+=(linux-perf)
fi
bench_apt_install bench/migrate.sh target/bench-migrate/apt.log "${missing[@]}"

# --- our CLI (release) and the harness
echo "bench/migrate.sh: cargo build --release -p tweetgen-infra; cargo build -p tweetgen-pgharness" >&2
cargo build --release -q -p tweetgen-infra
cargo build -q -p tweetgen-pgharness --bin tweetgen-pg

# --- both clusters get the same settings; bulk-load sizing, the same for every method: a
# larger cache and fewer forced checkpoints
mapfile -t sets < <(bench_cluster_settings shared_buffers=1GB maintenance_work_mem=512MB max_wal_size=8GB)

scale=$(printf '%g' "${BENCH_SCALE:-1.0}")
key=${BENCH_MARKOV_KEY:-serial}
export BENCH_SOURCE_PG_DIR=target/bench-migrate/src-scale$scale-$key
export BENCH_TARGET_PG_DIR=target/bench-migrate/dst
# Two nested harness runs: the outer one's DATABASE_URL (the source) is kept as
# BENCH_SOURCE_URL before the inner one (the target) sets its own.
# shellcheck disable=SC2016  # expanded by the inner bash, on purpose
exec target/debug/tweetgen-pg run --data-dir "$BENCH_SOURCE_PG_DIR" --database oldservice "${sets[@]}" -- \
    bash -c 'export BENCH_SOURCE_URL=$DATABASE_URL; exec "$0" "$@"' \
    target/debug/tweetgen-pg run --data-dir "$BENCH_TARGET_PG_DIR" --database oldservice "${sets[@]}" -- \
    python3 bench/migrate/bench.py "$@"
