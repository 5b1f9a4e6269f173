#!/usr/bin/env bash
# The README's first command: install, build, and run a throwaway PostgreSQL 15 with
# schemagate in front of it (example config and policy), ready for psql. Ctrl-C stops both
# and removes the cluster.
#   DEMO_PORT=6432        the port schemagate listens on
#   DEMO_ADMIN_PORT=6433  its admin listener (approvals API, /metrics, probes)
#   SG_BINARY=PATH        use this schemagate instead of building one (tests/deploy/demo-test.sh)
#
# The demo config is deploy/schemagate.example.yaml plus an admin listener, an approvals store,
# the admin console for the database user `dba` (created here) and a signed approval webhook to
# the documented receiver (tests/tools/webhook_receiver.py, which verifies each signature and
# logs the deliveries), so that the walkthrough it prints — a held DROP TABLE, its webhook,
# approved from a second psql — works as printed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
DEMO_PORT=${DEMO_PORT:-6432}
DEMO_ADMIN_PORT=${DEMO_ADMIN_PORT:-6433}

if [[ -n ${SG_BINARY:-} ]]; then
  binary=$(realpath "$SG_BINARY")
else
  bash deploy/install-deps.sh
  bash deploy/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DSG_BUILD_TESTS=OFF
  binary=$root/build-release/schemagate
fi

work=$(mktemp -d /tmp/schemagate-demo.XXXXXX)
chmod 0755 "$work"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$work"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
proxy_pid=""
receiver_pid=""
cleanup() {
  # Ctrl-C reaches schemagate too (same process group), so it may be gone already: nothing
  # here may fail, or errexit would skip stopping PostgreSQL.
  set +e
  if [[ -n $proxy_pid ]]; then
    kill "$proxy_pid" 2>/dev/null
    wait "$proxy_pid" 2>/dev/null
  fi
  if [[ -n $receiver_pid ]]; then
    kill "$receiver_pid" 2>/dev/null
    wait "$receiver_pid" 2>/dev/null
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
"$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
  -c "CREATE DATABASE app" -c "CREATE ROLE dba LOGIN"

# The approval webhook's receiver: the documented example, on a free port of its choosing.
openssl rand -hex 32 >"$work/webhook.secret"
python3 "$root/tests/tools/webhook_receiver.py" --port 0 --secret-file "$work/webhook.secret" \
  --log "$work/webhook.jsonl" >"$work/webhook.out" 2>&1 &
receiver_pid=$!
hook_port=""
for _ in $(seq 100); do
  hook_port=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$work/webhook.out")
  [[ -n $hook_port ]] && break
  kill -0 "$receiver_pid" 2>/dev/null || { cat "$work/webhook.out" >&2; echo "demo: the webhook receiver exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n $hook_port ]] || { echo "demo: the webhook receiver did not start" >&2; exit 1; }

# The example config, with its relative paths made absolute and the approvals pieces added.
config=$work/schemagate.yaml
token=$(openssl rand -hex 24)
sed -e "s|^  file: policy.example.yaml|  file: $root/deploy/policy.example.yaml|" \
    -e "s|^  path: schemagate-state.db|  path: $work/state.db|" "$root/deploy/schemagate.example.yaml" >"$config"
cat >>"$config" <<YAML
admin:
  address: 127.0.0.1
  port: $DEMO_ADMIN_PORT
  tokens:
    - {approver: demo-approver, token: $token}
  users: [dba]          # psql dbname=schemagate user=dba: the admin console
approvals:
  wait_ms: 600000
  store: {path: $work/approvals.db}
  webhooks:
    - {url: "http://127.0.0.1:$hook_port/hook", mode: notify, secret_file: $work/webhook.secret}
YAML
"$binary" config check "$config"
"$binary" serve --config "$config" --listen "127.0.0.1:$DEMO_PORT" --upstream "127.0.0.1:$pg_port" &
proxy_pid=$!
for _ in $(seq 100); do
  "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$DEMO_PORT" && break
  kill -0 "$proxy_pid" 2>/dev/null || { echo "demo: schemagate exited" >&2; exit 1; }
  sleep 0.1
done
app="host=127.0.0.1 port=$DEMO_PORT dbname=app user=postgres"
console="host=127.0.0.1 port=$DEMO_PORT dbname=schemagate user=dba"
cat <<MSG

schemagate is running in front of a throwaway PostgreSQL 15. Connect with:

    psql "$app"

Try an approval (the example policy holds DROP TABLE):

    psql "$app" -c "CREATE TABLE t (id int)" -c "DROP TABLE t"     # waits, printing the request id

The approval webhook went to a receiver that checked its signature:

    tail -n 1 $work/webhook.jsonl     # {"valid_signature": true, ..., "body": {"request": {...}, "text": ...}}

and from a second terminal, on the admin console:

    psql "$console" -c "SHOW REQUESTS pending"
    psql "$console" -c "APPROVE 'ID' REASON 'demo'"                  # the first psql completes

or with the HTTP API: curl -s -H "Authorization: Bearer $token" http://127.0.0.1:$DEMO_ADMIN_PORT/v1/requests?status=pending
Metrics: curl -s http://127.0.0.1:$DEMO_ADMIN_PORT/metrics

Press Ctrl-C here to stop both.
MSG
wait "$proxy_pid"
