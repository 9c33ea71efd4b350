#!/usr/bin/env bash
# Cutover benchmark: the write-unavailability window over repeated cutovers under
# load. Each round is the end-to-end cutover of infra/tests/cutover.rs — two fresh
# PostgreSQL clusters, the old host and the new fleet, moto for Route53 and RDS,
# four clients generating and training throughout — built with the release
# profile. Prints each round and the median and maximum. Targets: max ≤ 5 s, goal ≤ 1 s.
#
# Usage: bench/cutover.sh            (CUTOVER_ROUNDS=10 by default; about 20 s a round)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh test >&2
source scripts/env.sh
rounds=${CUTOVER_ROUNDS:-10}
echo "# Cutover benchmark"
echo
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:   nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command:   CUTOVER_ROUNDS=$rounds bench/cutover.sh"
echo "git:       $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- app server infra || echo '-dirty')"
echo
cargo build --release -q -p tweetgen-server
CUTOVER_ROUNDS=$rounds cargo test --release -q -p tweetgen-infra --test cutover -- \
    --ignored ten_cutovers_under_load --nocapture --test-threads 1 2>&1 \
  | grep -E '^(round|write-unavailability)'
