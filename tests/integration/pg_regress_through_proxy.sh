#!/usr/bin/env bash
# PostgreSQL 15's regression suite through schemagate: a throwaway cluster, the proxy in front
# of it, then ../shared/pg-regress-15/run.sh against the proxy's port. Exit 77 (skipped) when
# the suite is not present next to the repository.
#
#   pg_regress_through_proxy.sh [SCHEMAGATE_BINARY]
# Env: SG_SOURCE_DIR (repository root; default: two levels above this script).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SG_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
suite=$(cd "$src/.." && pwd)/shared/pg-regress-15
proxy_bin=${1:-$src/build/schemagate}

if [ ! -x "$suite/run.sh" ] || [ ! -x "$suite/pg15_cluster.sh" ]; then
  echo "SKIP: $suite (run.sh, pg15_cluster.sh) not found; the regression suite lives beside the repository" >&2
  exit 77
fi
[ -x "$proxy_bin" ] || { echo "schemagate binary not found: $proxy_bin" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sg-regress.XXXXXX")
cluster="$work/cluster"
proxy_pid=
cleanup() {
  local rc=$?
  if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
    kill -TERM "$proxy_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$proxy_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$work/proxy.log" ]; then
    echo "---- schemagate log (last 50 lines) ----" >&2
    tail -n 50 "$work/proxy.log" >&2
  fi
  "$suite/pg15_cluster.sh" stop "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chmod 0755 "$work"
pg_port=$("$suite/pg15_cluster.sh" start "$cluster") || { echo "could not start the cluster" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
proxy_port=$(free_port)
# Observe mode: every statement is classified and judged, everything is forwarded (the suite
# expects the server's own results for all of its DDL).
"$proxy_bin" serve --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$pg_port" --mode observe --log-level warn \
  >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null && break
  kill -0 "$proxy_pid" 2>/dev/null || { echo "schemagate exited early" >&2; exit 1; }
  sleep 0.05
done

echo "cluster on $pg_port, schemagate on $proxy_port"
"$suite/run.sh" 127.0.0.1 "$proxy_port"
rc=$?
if ! kill -0 "$proxy_pid" 2>/dev/null; then
  echo "schemagate died during the run" >&2
  exit 1
fi
# A clean shutdown (and, in the sanitizer build, no leak reports) is part of passing.
kill -TERM "$proxy_pid"
wait "$proxy_pid"
proxy_rc=$?
proxy_pid=
if [ "$proxy_rc" -ne 0 ]; then
  echo "schemagate exited with status $proxy_rc after SIGTERM" >&2
  tail -n 50 "$work/proxy.log" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
