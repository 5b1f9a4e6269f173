#!/usr/bin/env bash
# Benchmark (a script, not a test): how long concurrent writers stall while each DDL runs on a
# 1,000,000-row table, rewritten by schemagate (enforce) vs sent raw (a proxy in observe mode
# forwards it unchanged), and how fast the volatile-default backfill goes, per batch size.
#
# One throwaway PostgreSQL 15 cluster (initdb in a temp dir, a free port on 127.0.0.1), the
# Release schemagate binary, and tests/bench/plan_stall_writers.cc as the writers: WRITERS libpq
# connections through the enforcing proxy, each alternating a single-row UPDATE and INSERT,
# THINK_US between queries. For every case the table is generated afresh (ROWS rows, VACUUM
# ANALYZE), the writers run SETTLE s, the DDL runs through psql, the writers run SETTLE s more.
#
# Printed per case (a Markdown table): DDL, mode, duration, longest writer stall (the longest
# latency of any writer query that was running while the DDL ran), whether that stall stayed
# within lock_timeout, writer queries/s during the DDL (and before it), failed writer queries,
# and for the backfill phase its rows/s (from the plan's "phase i/n done in … (N rows)" NOTICE),
# and how much of the machine's CPU other processes used meanwhile (the noise in that row).
#
#   tests/bench/plan-stall.sh [BUILD_DIR]     (default build-release, built with one job if missing)
#
# Knobs: ROWS=1000000  WRITERS=2  THINK_US=1000  SETTLE=2  LOCK_TIMEOUT_MS=2000 (schemagate's
# default)  BATCHES="10000 50000 100000" (backfill_batch_rows of the ADD COLUMN runs; 10000 is the
# default)  IDLE_BACKFILL=1 (also one ADD COLUMN with no writers: the bare backfill rate)
# CASES="index fk column notnull"  PGBIN=/usr/lib/postgresql/15/bin  RUN_AS=postgres (when root)
# KEEP_TMP=1 (keep the temp dir: logs, psql output, per-query samples).
#
# Everything started here (postgres, the proxies, the writers) is stopped by pid and the temp dir
# removed on exit, also on error or Ctrl-C. Only 127.0.0.1 is listened on.
{
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-release}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-1000000}
WRITERS=${WRITERS:-2}
THINK_US=${THINK_US:-1000}
SETTLE=${SETTLE:-2}
LOCK_TIMEOUT_MS=${LOCK_TIMEOUT_MS:-2000}
BATCHES=${BATCHES:-"10000 50000 100000"}
IDLE_BACKFILL=${IDLE_BACKFILL:-1}
CASES=${CASES:-"index fk column notnull"}
DEFAULT_BATCH=10000

log() { printf '[plan-stall %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ ! -x $build/schemagate ]]; then
  log "building $build/schemagate (Release, one job)"
  SG_JOBS=${SG_JOBS:-1} SG_TARGETS=schemagate bash "$root/deploy/build.sh" "$build" -DCMAKE_BUILD_TYPE=Release -DSG_BUILD_TESTS=OFF
fi
SG=$build/schemagate

# ----------------------------------------------------------------------------- cleanup
TMP=""; PG_PID=""; PROXY_PIDS=(); WRITERS_PID=""
stop_pid() {  # stop_pid PID SIGNAL: signal, wait up to 10 s, then KILL
  local pid=$1 sig=$2 t=100
  [[ -z $pid ]] && return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  while (( t-- > 0 )) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  set +e
  trap - ERR
  stop_pid "$WRITERS_PID" TERM
  for p in "${PROXY_PIDS[@]}"; do stop_pid "$p" TERM; done
  stop_pid "$PG_PID" INT  # fast shutdown
  if [[ $rc -ne 0 && -n $TMP && -d $TMP ]]; then
    for f in "$TMP"/pg.log "$TMP"/proxy-*.log "$TMP"/case-*.out; do
      [[ -s $f ]] && { log "--- tail of $(basename "$f")"; tail -n 15 "$f" >&2; }
    done
  fi
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

# ----------------------------------------------------------------------------- helpers
AS_USER=()
if [[ $(id -u) == 0 ]]; then
  RUN_AS=${RUN_AS:-postgres}
  id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS does not exist (PostgreSQL refuses to run as root)"
  AS_USER=(setpriv "--reuid=$RUN_AS" "--regid=$(id -g "$RUN_AS")" --init-groups --)
fi
declare -A USED_PORTS=()
free_port() {  # a port nobody listens on or connects from (/proc/net/tcp*), not handed out yet
  local busy p i
  busy=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$2 ~ /:/ { split($2,a,":"); h=toupper(a[2]); n=0
           for (i = 1; i <= length(h); i++) n = n*16 + index("0123456789ABCDEF", substr(h,i,1)) - 1; print n }')
  for ((i = 0; i < 200; i++)); do
    p=$(( 20000 + RANDOM % 30000 ))
    [[ -n ${USED_PORTS[$p]:-} ]] && continue
    grep -qx "$p" <<<"$busy" && continue
    USED_PORTS[$p]=1; echo "$p"; return 0
  done
  die "no free port found"
}
wait_ready() {  # wait_ready PORT PID WHAT
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$2" 2>/dev/null || die "$3 (pid $2) exited during startup"
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -t 1 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$3 did not accept connections on port $1 within 30 s"
}
now_us() { date +%s%6N; }
HZ=$(getconf CLK_TCK)
cpu_snapshot() {  # -> "machine_busy_ticks ours_ticks": all CPUs (/proc/stat), and this script's process tree
  # (postgres, the proxies, the writers and psql are all its descendants; the time of exited
  # children is in their parent's cutime). The difference of the deltas is what other processes
  # on the machine used meanwhile: the noise in that case's figures.
  local busy
  busy=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat)
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$$" -v busy="$busy" '
    { r = $0; i = index(r, ") "); pid = substr(r, 1, index(r, " ") - 1); split(substr(r, i + 2), f, " ")
      ppid[pid] = f[2]; t[pid] = f[12] + f[13] + f[14] + f[15] }
    function under(p,   n) { for (n = 0; p != "" && p != 0 && n < 64; n++) { if (p == root) return 1; p = ppid[p] } return 0 }
    END { for (p in t) if (under(p)) s += t[p]; printf "%d %d\n", busy, s }'
}

# ----------------------------------------------------------------------------- cluster
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plan-stall.XXXXXX")
chmod 755 "$TMP"
[[ ${#AS_USER[@]} -gt 0 ]] && chown "$RUN_AS" "$TMP"
g++ -O2 -std=c++20 -pthread -I"$("$PGBIN/pg_config" --includedir)" -o "$TMP/plan_stall_writers" \
  "$root/tests/bench/plan_stall_writers.cc" -lpq
PG_PORT=$(free_port)
log "temp dir $TMP; initdb (PostgreSQL at 127.0.0.1:$PG_PORT)"
"${AS_USER[@]}" "$PGBIN/initdb" -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
# As in ../shared/bench/pgbench-compare.sh: loopback, in memory, no background noise (autovacuum
# would also take SHARE UPDATE EXCLUSIVE locks that the VALIDATE phases then queue behind).
cat >>"$TMP/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$TMP'
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
jit = off
EOF
"${AS_USER[@]}" "$PGBIN/postgres" -D "$TMP/data" >"$TMP/pg.log" 2>&1 &
PG_PID=$!
wait_ready "$PG_PORT" "$PG_PID" postgres
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
"${PSQL[@]}" -p "$PG_PORT" -d postgres -c "CREATE DATABASE bench" >/dev/null
"${PSQL[@]}" -p "$PG_PORT" -d bench >/dev/null <<'EOF'
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
ANALYZE customers;
EOF
reset_table() {
  "${PSQL[@]}" -p "$PG_PORT" -d bench >/dev/null <<EOF
SET client_min_messages = warning;
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (id bigint, customer_id bigint, note text, amount int);
INSERT INTO orders SELECT g, 1 + g % 2000, 'n' || g, g % 100 FROM generate_series(1, $ROWS) g;
ALTER TABLE orders ADD PRIMARY KEY (id);
VACUUM ANALYZE orders;
CHECKPOINT;
EOF
}

# ----------------------------------------------------------------------------- proxies
declare -A PROXY_PORT=()
start_proxy() {  # start_proxy NAME MODE BATCH_ROWS
  local name=$1 mode=$2 batch=$3 port
  port=$(free_port)
  cat >"$TMP/policy-$name.yaml" <<EOF
mode: $mode
thresholds:
  lock_timeout: ${LOCK_TIMEOUT_MS}ms
  backfill_batch_rows: $batch
rules:
  require_lock_timeout: pass
EOF
  "$SG" serve --listen "127.0.0.1:$port" --upstream "127.0.0.1:$PG_PORT" --policy "$TMP/policy-$name.yaml" \
    --mode "$mode" --state "$TMP/state-$name.db" --log-level warn >"$TMP/proxy-$name.log" 2>&1 &
  PROXY_PIDS+=($!)
  wait_ready "$port" "$!" "schemagate ($name)"
  PROXY_PORT[$name]=$port
}
start_proxy raw observe "$DEFAULT_BATCH"
for b in $BATCHES $DEFAULT_BATCH; do [[ -n ${PROXY_PORT[b$b]:-} ]] || start_proxy "b$b" enforce "$b"; done

# ----------------------------------------------------------------------------- cases
RESULTS=()
N=0
run_case() {  # run_case LABEL MODE PROXY WRITERS SQL
  local label=$1 mode=$2 proxy=$3 writers=$4 sql=$5 t0 t1 rc=0 out stats rate="" within
  N=$((N + 1))
  out="$TMP/case-$N.out"
  log "case $N: $label ($mode, via $proxy, $writers writers)"
  reset_table
  local samples="$TMP/case-$N.samples"
  if (( writers > 0 )); then
    "$TMP/plan_stall_writers" "host=127.0.0.1 port=${PROXY_PORT[b$DEFAULT_BATCH]} user=postgres dbname=bench sslmode=disable" \
      "$writers" "$THINK_US" "$ROWS" "$samples" >"$TMP/writers-$N.out" 2>"$TMP/writers-$N.err" &
    WRITERS_PID=$!
    local i
    for ((i = 0; i < 300; i++)); do grep -q ready "$TMP/writers-$N.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$TMP/writers-$N.out" || die "the writers did not connect: $(cat "$TMP/writers-$N.err")"
    sleep "$SETTLE"
  fi
  local cpu0 cpu1 other
  cpu0=$(cpu_snapshot)
  t0=$(now_us)
  "${PSQL[@]}" -p "${PROXY_PORT[$proxy]}" -d bench -c "$sql" >"$out" 2>&1 || rc=$?
  t1=$(now_us)
  cpu1=$(cpu_snapshot)
  other=$(awk -v a="$cpu0" -v b="$cpu1" -v us="$((t1 - t0))" -v hz="$HZ" -v n="$(nproc)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); o = (y[1] - x[1]) - (y[2] - x[2]); if (o < 0) o = 0
    printf "%.0f", 100 * o / hz / (us / 1e6) / n }')
  if (( writers > 0 )); then
    sleep "$SETTLE"
    stop_pid "$WRITERS_PID" TERM
    WRITERS_PID=""
  else
    : >"$samples"
  fi
  if (( rc != 0 )); then log "psql failed ($rc): $(tail -n 3 "$out")"; fi
  # Was it really rewritten (or really not)?
  if [[ $mode == raw ]] && grep -q 'rewritten by rule' "$out"; then die "case $N was rewritten in observe mode"; fi
  if [[ $mode != raw ]] && ! grep -q 'rewritten by rule' "$out"; then die "case $N was not rewritten: $(head -n 3 "$out")"; fi
  # Writer stall: the longest latency of a writer query that was in flight while the DDL ran.
  stats=$(awk -v t0="$t0" -v t1="$t1" -v b0="$((t0 - SETTLE * 1000000 + 500000))" '
    { end = $2; lat = $3; if (!$4) fail++
      if (end >= b0 && end < t0) bn++
      if (end > t0 && end - lat < t1 && lat > stall) stall = lat
      if (end >= t0 && end <= t1) dn++ }
    END { printf "%.3f %.0f %.0f %d\n", stall / 1e6, dn / ((t1 - t0) / 1e6), bn / ((t0 - b0) / 1e6), fail }' "$samples")
  read -r stall tps base_tps failed <<<"$stats"
  # The backfill phase: "schemagate: phase 3/7 done in 57.6 s: backfill existing rows ... (1001254 rows)".
  rate=$(sed -n 's/.*phase [0-9]*\/[0-9]* done in \([0-9.]*\) s: backfill.*(\([0-9]*\) rows).*/\1 \2/p' "$out" |
           awk '{ if ($1 > 0) printf "%.0f (%d rows in %.1f s)", $2 / $1, $2, $1 }')
  local dur
  dur=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
  if (( writers == 0 )); then
    stall="—"; within="—"; tps="—"; base_tps="—"; failed="—"
  else
    within=$(awk -v s="$stall" -v l="$LOCK_TIMEOUT_MS" 'BEGIN { print (s * 1000 <= l ? "yes" : "**no**") }')
    failed=$((failed + 0))
  fi
  (( rc == 0 )) || label="$label (**failed: psql exit $rc**)"
  RESULTS+=("| $label | $mode | $dur | $stall | $within | $tps ($base_tps before) | $failed | ${rate:-—} | $other |")
}

for c in $CASES; do
  case $c in
    index)
      sql="CREATE INDEX orders_customer_id_idx ON orders (customer_id)"
      run_case "CREATE INDEX" rewritten "b$DEFAULT_BATCH" "$WRITERS" "$sql"
      run_case "CREATE INDEX" raw raw "$WRITERS" "$sql" ;;
    fk)
      sql="ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)"
      run_case "ADD FOREIGN KEY" rewritten "b$DEFAULT_BATCH" "$WRITERS" "$sql"
      run_case "ADD FOREIGN KEY" raw raw "$WRITERS" "$sql" ;;
    column)
      sql="ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()"
      for b in $BATCHES; do run_case "ADD COLUMN uuid NOT NULL DEFAULT gen_random_uuid(), batch $b" rewritten "b$b" "$WRITERS" "$sql"; done
      if [[ $IDLE_BACKFILL == 1 ]]; then
        run_case "ADD COLUMN uuid NOT NULL DEFAULT gen_random_uuid(), batch $DEFAULT_BATCH, no writers" rewritten "b$DEFAULT_BATCH" 0 "$sql"
      fi
      run_case "ADD COLUMN uuid NOT NULL DEFAULT gen_random_uuid()" raw raw "$WRITERS" "$sql" ;;
    notnull)
      sql="ALTER TABLE orders ALTER COLUMN note SET NOT NULL"
      run_case "SET NOT NULL" rewritten "b$DEFAULT_BATCH" "$WRITERS" "$sql"
      run_case "SET NOT NULL" raw raw "$WRITERS" "$sql" ;;
    *) die "unknown case $c (index fk column notnull)" ;;
  esac
done

# ----------------------------------------------------------------------------- report
echo
echo "plan-stall: $ROWS rows, $WRITERS writers (UPDATE/INSERT one row, ${THINK_US} µs think time) through the enforcing proxy;"
echo "lock_timeout ${LOCK_TIMEOUT_MS} ms; schemagate $("$SG" --version 2>/dev/null | head -n1); $("$PGBIN/postgres" --version); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| DDL | mode | duration s | longest writer stall s | stall ≤ lock_timeout | writer queries/s during (before) | failed writer queries | backfill rows/s | other processes' CPU % |"
echo "| --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: |"
printf '%s\n' "${RESULTS[@]}"
exit 0
}
