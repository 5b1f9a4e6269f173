#!/usr/bin/env bash
# Benchmark (a script, not a test): pgbench -S through schemagate vs a direct connection vs
# PgBouncer (session and transaction mode), interleaved in one run on one throwaway cluster,
# -c 1 and -c 16, -M simple/extended/prepared, plus connection churn (-C). Prints tps and
# latency ratios and CPU microseconds per transaction of client, server and proxy.
#
# It drives ../shared/bench/pgbench-compare.sh (the reference harness) with schemagate as the
# proxy under test. Extra environment knobs (QUICK=1, PIN=1, DURATION, REPS, ...) are passed
# through; see that script's header. Knobs of this script:
#   SG_UPSTREAM=tcp|unix   how schemagate reaches the server (default tcp, like the harness's PgBouncer)
#   SG_BUSY_POLL_US=N      --busy-poll-us for schemagate (default: the built-in default)
#   SUBJECT=pgbouncer-unix PgBouncer over the server's Unix socket as the proxy under test instead
#                          (the like-for-like reference for SG_UPSTREAM=unix)
#   SUBJECT=floor          tests/bench/min_forwarder.cc (a bare epoll byte forwarder: what the
#                          kernel alone costs per message) as the proxy under test; with
#                          SG_UPSTREAM=unix it reaches the server over its Unix socket
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
if [[ ${SUBJECT:-schemagate} == pgbouncer-unix ]]; then
  export PROXY_NAME=${PROXY_NAME:-pgb-unix}
  export PROXY_CMD="exec bash '$root/tests/bench/pgbouncer-unix-proxy.sh'"
  exec bash "$harness"
fi
if [[ ${SUBJECT:-schemagate} == floor ]]; then
  floor_bin=$build/min_forwarder
  g++ -O2 -o "$floor_bin" "$root/tests/bench/min_forwarder.cc"
  export PROXY_NAME=${PROXY_NAME:-floor}
  unix_arg=""
  if [[ ${SG_UPSTREAM:-tcp} == unix ]]; then unix_arg='"$BENCH_TMP/.s.PGSQL.$PG_PORT"'; fi
  export PROXY_CMD="exec '$floor_bin' \$PROXY_PORT \$PG_PORT $unix_arg"
  exec bash "$harness"
fi
upstream='$PG_HOST:$PG_PORT'
if [[ ${SG_UPSTREAM:-tcp} == unix ]]; then upstream='$BENCH_TMP:$PG_PORT'; fi
args=${SG_BENCH_ARGS:-}
if [[ -n ${SG_BUSY_POLL_US:-} ]]; then args+=" --busy-poll-us $SG_BUSY_POLL_US"; fi
export PROXY_NAME=${PROXY_NAME:-schemagate}
# The proxy's policy engine is on (enforce, example policy): pgbench -S is ordinary DML, so this
# measures the fast path every application query takes.
export PROXY_CMD="exec '$build/schemagate' serve --listen 127.0.0.1:\$PROXY_PORT --upstream $upstream --policy '$root/deploy/policy.example.yaml' --mode enforce --log-level warn $args"
exec bash "$harness"
