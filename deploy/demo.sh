#!/usr/bin/env bash
# The README's first command: install, build, and run a throwaway PostgreSQL 15 with
# schemagate in front of it (example config and policy), ready for psql. Ctrl-C stops both
# and removes the cluster.
#   DEMO_PORT=6432   the port schemagate listens on
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
DEMO_PORT=${DEMO_PORT:-6432}

bash deploy/install-deps.sh
bash deploy/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DSG_BUILD_TESTS=OFF

work=$(mktemp -d /tmp/schemagate-demo.XXXXXX)
chmod 0755 "$work"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$work"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
proxy_pid=""
cleanup() {
  # Ctrl-C reaches schemagate too (same process group), so it may be gone already: nothing
  # here may fail, or errexit would skip stopping PostgreSQL.
  set +e
  if [[ -n $proxy_pid ]]; then
    kill "$proxy_pid" 2>/dev/null
    wait "$proxy_pid" 2>/dev/null
  fi
  as_pg "$PG_BINDIR/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1
  rm -rf "$work"
  echo "demo: stopped and cleaned up"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "demo: initdb in $work (PostgreSQL 15 on 127.0.0.1:$pg_port)"
as_pg "$PG_BINDIR/initdb" -D "$work/data" -U postgres -A trust -E UTF8 --locale=C >"$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log" >&2; exit 1; }
cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work'
fsync = off
CONF
as_pg "$PG_BINDIR/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w start >/dev/null
"$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "CREATE DATABASE app"

config=$root/deploy/schemagate.example.yaml
"$root/build-release/schemagate" config check "$config"
"$root/build-release/schemagate" serve --config "$config" --listen "127.0.0.1:$DEMO_PORT" \
  --upstream "127.0.0.1:$pg_port" &
proxy_pid=$!
for _ in $(seq 50); do
  "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$DEMO_PORT" && break
  kill -0 "$proxy_pid" 2>/dev/null || { echo "demo: schemagate exited" >&2; exit 1; }
  sleep 0.1
done
cat <<MSG

schemagate is running in front of a throwaway PostgreSQL 15. Connect with:

    psql "host=127.0.0.1 port=$DEMO_PORT dbname=app user=postgres"

Press Ctrl-C here to stop both.
MSG
wait "$proxy_pid"
