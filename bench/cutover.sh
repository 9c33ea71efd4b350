#!/usr/bin/env bash
# Cutover benchmark on the production topology (network namespaces, firewalls
# like the security groups, haproxy for the ALB, the VPS's link capped at
# 100 Mbit/s): rounds of a cutover with one fleet instance replaced during it,
# then a rollback after its commit point, under clients writing and reading
# through both the old host and the load balancer. Prints the write pause seen by
# the clients and the latency holding added to writes (p50, p99, max), requests
# failed and acknowledged writes lost. Targets: 0 failed, max pause ≤ 0.5 s, 0 lost.
#
# Usage: bench/cutover.sh            (CUTOVER_ROUNDS=10 by default; as root)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
scripts/setup.sh test >&2
bench_command_line bench/cutover.sh "$@"
rounds=${CUTOVER_ROUNDS:-10}
echo "# Cutover benchmark"
echo
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:   nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command:   CUTOVER_ROUNDS=$rounds $BENCH_COMMAND"
echo "git:       $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- app server infra control pgharness || echo '-dirty')"
echo
cargo build --release -q -p tweetgen-server
CUTOVER_ROUNDS=$rounds cargo test --release -q -p tweetgen-infra --test cutover -- \
    --ignored ten_cutovers_and_rollbacks_under_load --nocapture --test-threads 1 2>&1 \
  | grep -E '^(round|cutover: (write|latency)|rollback after|requests|topology)'
