#!/usr/bin/env bash
# The newcomer's walkthrough, as README → deploy/demo.sh prints it: start the demo, run the
# printed commands word for word (a held DROP TABLE, the webhook delivery with a valid
# signature, SHOW REQUESTS and APPROVE on the admin console, the metrics curl), check that the
# held psql completes and the table is gone, then Ctrl-C the demo and check that it cleaned up.
#
#   bash tests/deploy/demo-test.sh SCHEMAGATE_BINARY
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath "${1:?usage: demo-test.sh SCHEMAGATE_BINARY}")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

out=$(mktemp)
held_out=$(mktemp)
demo_pid=""
finish() {
  local rc=$1
  if [[ -n $demo_pid ]] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT -- "-$demo_pid" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$demo_pid" 2>/dev/null
  fi
  if ((rc != 0)); then
    echo "---- demo output"; cat "$out"; echo "---- held psql"; cat "$held_out"
  fi
  rm -f "$out" "$held_out"
  exit "$rc"
}
fail() {
  echo "demo-test: FAIL: $*" >&2
  finish 1
}

# setsid: the demo gets a process group of its own, so that a Ctrl-C (SIGINT to the group)
# reaches it and schemagate as the terminal's would.
SG_BINARY=$binary DEMO_PORT=$(free_port) DEMO_ADMIN_PORT=$(free_port) setsid bash "$root/deploy/demo.sh" >"$out" 2>&1 &
demo_pid=$!
for _ in $(seq 1200); do
  grep -q "Press Ctrl-C here" "$out" && break
  kill -0 "$demo_pid" 2>/dev/null || fail "the demo exited before it was ready"
  sleep 0.1
done
grep -q "Press Ctrl-C here" "$out" || fail "the demo was not ready within 120 s"

# The printed commands, as a newcomer would paste them (comments after '#' dropped).
printed() { grep -E "^    $1" "$out" | sed -e 's/^    //' -e 's/[[:space:]]*#.*$//'; }
held_cmd=$(printed 'psql .*DROP TABLE t')
list_cmd=$(printed 'psql .*SHOW REQUESTS pending')
approve_cmd=$(printed "psql .*APPROVE 'ID'")
webhook_cmd=$(printed 'tail -n 1 .*webhook.jsonl')
metrics_cmd=$(grep -E '^Metrics: ' "$out" | sed 's/^Metrics: //')
[[ -n $held_cmd && -n $list_cmd && -n $approve_cmd && -n $metrics_cmd && -n $webhook_cmd ]] ||
  fail "the walkthrough commands are not printed"

eval "$held_cmd" >"$held_out" 2>&1 &
held_pid=$!
id=""
for _ in $(seq 600); do
  id=$(eval "$list_cmd" 2>/dev/null | grep -oE '^ [0-9a-f]{16} ' | tr -d ' ' | head -1)
  [[ -n $id ]] && break
  kill -0 "$held_pid" 2>/dev/null || fail "the DROP TABLE was not held (psql ended)"
  sleep 0.1
done
[[ -n $id ]] || fail "SHOW REQUESTS pending never listed the held DROP TABLE"
grep -q "$id" "$held_out" || fail "the held psql was not told the request id $id"
kill -0 "$held_pid" 2>/dev/null || fail "the held psql did not wait"
# The webhook: delivered for this request, and its signature verified by the receiver.
delivery=""
for _ in $(seq 300); do
  delivery=$(eval "$webhook_cmd" 2>/dev/null)
  [[ $delivery == *"$id"* ]] && break
  sleep 0.1
done
[[ $delivery == *"$id"* ]] || fail "no webhook delivery for request $id: $delivery"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["valid_signature"] and d["body"]["request"]["id"]==sys.argv[2] else 1)' \
  "$delivery" "$id" || fail "the webhook delivery's signature did not verify: $delivery"

eval "${approve_cmd//ID/$id}" >/dev/null || fail "APPROVE on the console failed"
for _ in $(seq 600); do kill -0 "$held_pid" 2>/dev/null || break; sleep 0.1; done
wait "$held_pid" || fail "the approved DROP TABLE did not complete"
grep -q "^DROP TABLE" "$held_out" || fail "psql did not print DROP TABLE"
app=$(grep -E '^    psql "host=.*dbname=app' "$out" | head -1 | sed -e 's/^    psql "//' -e 's/".*$//')
[[ $(psql "$app" -XAtc "SELECT count(*) FROM pg_class WHERE relname = 't'") == 0 ]] || fail "table t still exists"
eval "$metrics_cmd" | grep -q '^schemagate_holds_total{result="approved"} 1' || fail "/metrics does not count the approval"

kill -INT -- "-$demo_pid"
for _ in $(seq 300); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$demo_pid" 2>/dev/null && fail "the demo did not stop on Ctrl-C"
grep -q "demo: stopped and cleaned up" "$out" || fail "the demo did not clean up"
work=$(grep -oE '/tmp/schemagate-demo\.[A-Za-z0-9]+' "$out" | head -1)
[[ -n $work && ! -e $work ]] || fail "the demo left $work behind"
echo "demo-test: the printed walkthrough works (request $id: webhook verified, approved on the console)"
demo_pid=""
finish 0
