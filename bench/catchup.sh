#!/usr/bin/env bash
# Catch-up benchmark: the app's real writes (generations, trainings that upsert a ~100 KB
# model, account deletions) plus pgbench's TPC-B-like transactions on a PostgreSQL source
# while an applier keeps a second cluster current. Measures the source's highest write rate,
# then `tweetgen-infra migrate follow` at a sustained rate (write rate, apply rate, lag over
# time, the margin), and the catch-up after a backlog (BENCH_BACKLOG_SECONDS of writes with
# the applier stopped) for ours, `pgcopydb follow` (Debian's 0.10, wal2json) and native
# logical replication (a subscription), with the load continuing and with it stopped.
# Never fails on the numbers; exits 1 only on a real error.
#
# Usage: bench/catchup.sh          (about 12 min with the defaults)
#   BENCH_SECONDS=120              the sustained phase (ours following at the chosen rate)
#   BENCH_BACKLOG_SECONDS=60       writes while the applier is stopped, before each catch-up
#   BENCH_CALIBRATE_SECONDS=20     the unthrottled run that finds the source's highest rate
#   BENCH_RATE=                    transactions/s of the load (pgbench -R); default: the
#                                  calibrated rate x BENCH_RATE_SHARE
#   BENCH_RATE_SHARE=0.5           see bench/README.md: both clusters and the appliers share 2 cores
#   BENCH_CLIENTS=4                pgbench clients (-c)
#   BENCH_MIX=generation=120,training=8,deletion=1,tpcb=71   pgbench script weights
#   BENCH_MODEL_KB=100             size of a trained model (random bytes)
#   BENCH_USERS=200                stable users (voices, viewers, trainings), each with a model
#   BENCH_PGBENCH_SCALE=5          pgbench -i -s
#   BENCH_METHODS=ours,pgcopydb,native   appliers compared, in this order
#   BENCH_CATCHUP_MODES=continuing,stopped   load continuing during the catch-up, or stopped
#   BENCH_CATCHUP_TIMEOUT=         give up a catch-up after this many s (default 4 x backlog, >= 120)
#   BENCH_STALL_SECONDS=60         ... or after this many s without the applied position moving
#   BENCH_SAMPLE=0.25              seconds between samples of the WAL and applied positions
#   BENCH_DURABLE=1                fsync, synchronous_commit, full_page_writes on; 0: the harness's (off)
#   BENCH_PG_SETTINGS=             more server settings for both clusters, "name=value name=value"
#
# Prepares, idempotently: pgcopydb, postgresql-15-wal2json (pgcopydb 0.10 decodes with it)
# and PostgreSQL from apt if missing, the release tweetgen-infra and tweetgen-pg. Both
# clusters are kept in target/bench-catchup/{src,dst}; the source database is built anew
# each run; logs and work directories in target/bench-catchup/.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_command_line bench/catchup.sh "$@"
mkdir -p target/bench-catchup

# --- apt: pgcopydb (Debian's 0.10) and wal2json (its decoder), the PostgreSQL server and clients
mapfile -t missing < <(bench_missing_postgres)
compgen -G '/usr/lib/postgresql/*/lib/wal2json.so' >/dev/null || missing+=(postgresql-15-wal2json)
bench_apt_install bench/catchup.sh target/bench-catchup/apt.log "${missing[@]}"

# --- our CLI (release) and the harness
echo "bench/catchup.sh: cargo build --release -p tweetgen-infra; cargo build -p tweetgen-pgharness" >&2
cargo build --release -q -p tweetgen-infra
cargo build -q -p tweetgen-pgharness --bin tweetgen-pg

# --- both clusters get the same settings; room for the backlog's WAL without forced
# checkpoints, enough workers for a subscription's table synchronisation
mapfile -t sets < <(bench_cluster_settings shared_buffers=512MB max_wal_size=4GB max_worker_processes=16 \
    max_logical_replication_workers=8 max_sync_workers_per_subscription=2)

export BENCH_SOURCE_PG_DIR=target/bench-catchup/src
export BENCH_TARGET_PG_DIR=target/bench-catchup/dst
# Two nested harness runs: the outer one's DATABASE_URL (the source) is kept as
# BENCH_SOURCE_URL before the inner one (the target) sets its own.
# shellcheck disable=SC2016  # expanded by the inner bash, on purpose
exec target/debug/tweetgen-pg run --data-dir "$BENCH_SOURCE_PG_DIR" --database app "${sets[@]}" -- \
    bash -c 'export BENCH_SOURCE_URL=$DATABASE_URL; exec "$0" "$@"' \
    target/debug/tweetgen-pg run --data-dir "$BENCH_TARGET_PG_DIR" --database app "${sets[@]}" -- \
    env PYTHONDONTWRITEBYTECODE=1 python3 -B bench/catchup/bench.py "$@"
