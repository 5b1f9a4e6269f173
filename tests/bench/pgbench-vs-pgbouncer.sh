#!/usr/bin/env bash
# Benchmark (a script, not a test): pgbench -S through schemagate vs a direct connection vs
# PgBouncer (session and transaction mode), interleaved in one run on one throwaway cluster,
# -c 1 and -c 16, -M simple/extended/prepared, plus connection churn (-C). Prints tps and
# latency ratios and CPU microseconds per transaction of client, server and proxy.
#
# It drives ../shared/bench/pgbench-compare.sh (the reference harness) with schemagate as the
# proxy under test. Extra environment knobs (QUICK=1, PIN=1, DURATION, REPS, ...) are passed
# through; see that script's header.
#
#   tests/bench/pgbench-vs-pgbouncer.sh [BUILD_DIR]     (default build-release, built if missing)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-release}
harness=${HARNESS:-$root/../shared/bench/pgbench-compare.sh}
if [[ ! -f $harness ]]; then
  echo "pgbench-vs-pgbouncer: $harness not found (it lives in ../shared/bench)" >&2
  exit 2
fi
if [[ ! -x $build/schemagate ]]; then
  SG_TARGETS=schemagate bash "$root/deploy/build.sh" "$build" -DCMAKE_BUILD_TYPE=Release -DSG_BUILD_TESTS=OFF
fi
export PROXY_NAME=${PROXY_NAME:-schemagate}
# The proxy's policy engine is on (enforce, example policy): pgbench -S is ordinary DML, so this
# measures the fast path every application query takes.
export PROXY_CMD="exec '$build/schemagate' serve --listen 127.0.0.1:\$PROXY_PORT --upstream \$PG_HOST:\$PG_PORT --policy '$root/deploy/policy.example.yaml' --mode enforce --log-level warn ${SG_BENCH_ARGS:-}"
exec bash "$harness"
