#!/usr/bin/env bash
# The server under test as two instances on one database, as behind a load
# balancer: $E2E_PORT (seeds the demo users) and $E2E_PORT + 1. Browsers keep
# cookies per host, not port, so a session started on one is sent to the other.
# Runs inside `tweetgen-pg run`, which sets DATABASE_URL and passes SIGTERM on.
set -euo pipefail
server=$1

TWEETGEN__SERVER__PORT=$((E2E_PORT + 1)) TWEETGEN__SEED_DEMO_USERS=false "$server" &
second=$!
TWEETGEN__SERVER__PORT=$E2E_PORT "$server" &
first=$!
stop() { kill -TERM "$first" "$second" 2>/dev/null || true; }
trap stop TERM INT
# Either instance ending ends the test server.
wait -n "$first" "$second" || true
stop
wait
