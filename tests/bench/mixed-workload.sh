#!/usr/bin/env bash
# Benchmark (a script, not a test): what the policy costs on a mixed workload. pgbench's TPC-B-like
# script and -S side by side, with and without 1 % schema-changing messages that the example policy
# passes, directly and through schemagate (Release build, example policy, enforce mode), interleaved
# in one run on one throwaway PostgreSQL 15 cluster (huge pages, as ../shared/bench/pgbench-compare.sh).
#
# Workloads (pgbench -b/-f weights):
#   select   -b select-only                                  1 statement per transaction
#   mix      -b tpcb-like@50 -b select-only@50               7 / 1 statements
#   mix+ddl  -b tpcb-like@49 -b select-only@50 -f ddl@1      ddl: SET lock_timeout, then one of
#            COMMENT ON TABLE pgbench_accounts / ALTER TABLE mixed_side ADD COLUMN IF NOT EXISTS /
#            CREATE INDEX IF NOT EXISTS ON mixed_side: all pass the example policy, all need the
#            catalog facts query, and none takes a lock the TPC-B and -S transactions wait for
#            (mixed_side is a small table of its own), so the figures are the proxy's cost and not
#            a lock queue
# Targets: direct, PgBouncer (session mode: the reference for what a proxy hop costs), schemagate.
#
# Printed per workload and target: statements per second (from pgbench's per-script transaction
# counts), proxy and server CPU microseconds per statement, the ratios to direct and PgBouncer,
# schemagate's CPU per statement against the pure -S run; then the policy's own counters over the
# measured runs (messages parsed, catalog facts queries and their mean round trip, from /metrics).
#
#   tests/bench/mixed-workload.sh [BUILD_DIR]          (default build-release, built if missing)
#
# Knobs: DURATION=5 REPS=3 SCALE=10 CLIENTS=16 JOBS=2 MODES="simple extended"
#        CLIENT_CPUS=1 SERVER_CPUS=0 PROXY_CPUS=0 (the gateway layout; set them empty to unpin)
#        SG_BENCH_ARGS (more schemagate serve flags), PG_CONF_EXTRA (postgresql.conf lines), KEEP_TMP=1
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-release}
DURATION=${DURATION:-5} REPS=${REPS:-3} SCALE=${SCALE:-10} CLIENTS=${CLIENTS:-16} JOBS=${JOBS:-2}
MODES=${MODES:-simple extended}
CLIENT_CPUS=${CLIENT_CPUS-1} SERVER_CPUS=${SERVER_CPUS-0} PROXY_CPUS=${PROXY_CPUS-0}
PGBIN=/usr/lib/postgresql/15/bin
CLK_TCK=$(getconf CLK_TCK)
if [[ ! -x $build/schemagate ]]; then
  SG_TARGETS=schemagate bash "$root/deploy/build.sh" "$build" -DCMAKE_BUILD_TYPE=Release -DSG_BUILD_TESTS=OFF
fi
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "mixed-workload: $*"; exit 1; }

pin() { [[ -n $1 ]] && echo "taskset -c $1"; }
AS_USER=()
if [[ $(id -u) == 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  AS_USER=(setpriv --reuid=postgres "--regid=$(id -g postgres)" --init-groups --)
fi

TMP=$(mktemp -d /tmp/sg-mixed.XXXXXX)
chmod 755 "$TMP"
[[ ${#AS_USER[@]} -gt 0 ]] && chown postgres "$TMP"
PG_PID="" SG_PID="" PGB_PID="" OLD_HP=""
cleanup() {
  local rc=$?
  set +e
  [[ -n $SG_PID ]] && { kill -TERM "$SG_PID" 2>/dev/null; wait "$SG_PID" 2>/dev/null; }
  [[ -n $PGB_PID ]] && { kill -INT "$PGB_PID" 2>/dev/null; wait "$PGB_PID" 2>/dev/null; }
  [[ -n $PG_PID ]] && { kill -INT "$PG_PID" 2>/dev/null; wait "$PG_PID" 2>/dev/null; }
  [[ -n $OLD_HP ]] && echo "$OLD_HP" >/proc/sys/vm/nr_hugepages
  if ((rc != 0)); then for f in "$TMP"/pg.log "$TMP"/sg.log; do [[ -s $f ]] && tail -n 20 "$f" >&2; done; fi
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port) SG_PORT=$(free_port) ADMIN_PORT=$(free_port) PGB_PORT=$(free_port)

# --- cluster: the harness's settings (everything in memory, huge pages so backends start warm)
"${AS_USER[@]}" "$PGBIN/initdb" -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$TMP/initdb.log" 2>&1 ||
  { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
hp=try
need=160 free_hp=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
if ((free_hp < need)) && [[ -w /proc/sys/vm/nr_hugepages ]]; then
  OLD_HP=$(cat /proc/sys/vm/nr_hugepages)
  echo $((OLD_HP + need - free_hp)) >/proc/sys/vm/nr_hugepages || true
  free_hp=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
fi
((free_hp >= need)) && hp=on
cat >>"$TMP/data/postgresql.conf" <<EOF
huge_pages = $hp
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$TMP'
max_connections = 120
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
jit = off
${PG_CONF_EXTRA:-}
EOF
# shellcheck disable=SC2046
$(pin "$SERVER_CPUS") "${AS_USER[@]}" "$PGBIN/postgres" -D "$TMP/data" >"$TMP/pg.log" 2>&1 &
PG_PID=$!
for _ in $(seq 300); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1 && break; sleep 0.1; done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres did not start"
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
"${PSQL[@]}" -p "$PG_PORT" -d postgres -c "CREATE DATABASE bench" >/dev/null
log "pgbench -i -s $SCALE (huge_pages=$hp)"
"$PGBIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >"$TMP/init.log" 2>&1 ||
  { cat "$TMP/init.log" >&2; die "pgbench -i failed"; }
"${PSQL[@]}" -p "$PG_PORT" -d bench -c "CREATE TABLE mixed_side (id int PRIMARY KEY, v text)" \
  -c "INSERT INTO mixed_side SELECT g, 'x' FROM generate_series(1, 1000) g" -c "VACUUM ANALYZE mixed_side" >/dev/null

# --- PgBouncer (session mode), as the harness configures it
printf '"postgres" ""\n' >"$TMP/userlist.txt"
cat >"$TMP/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $TMP/userlist.txt
pool_mode = session
default_pool_size = 20
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
EOF
[[ ${#AS_USER[@]} -gt 0 ]] && chown postgres "$TMP/pgbouncer.ini" "$TMP/userlist.txt"
# shellcheck disable=SC2046
$(pin "$PROXY_CPUS") "${AS_USER[@]}" pgbouncer "$TMP/pgbouncer.ini" >"$TMP/pgbouncer.log" 2>&1 &
PGB_PID=$!

# --- schemagate in front, with its admin listener for /metrics
# shellcheck disable=SC2046,SC2086
$(pin "$PROXY_CPUS") "$build/schemagate" serve --listen "127.0.0.1:$SG_PORT" --upstream "127.0.0.1:$PG_PORT" \
  --policy "$root/deploy/policy.example.yaml" --mode enforce --admin "127.0.0.1:$ADMIN_PORT" \
  --log-level warn ${SG_BENCH_ARGS:-} >"$TMP/sg.log" 2>&1 &
SG_PID=$!
for _ in $(seq 300); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$SG_PORT" -d bench -t 1 && break; sleep 0.1; done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$SG_PORT" -d bench || die "schemagate did not start"
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGB_PORT" -d bench -t 10 || die "pgbouncer did not start"

cat >"$TMP/ddl.sql" <<'EOF'
\set k random(1, 3)
SET lock_timeout = '2s';
\if :k = 1
COMMENT ON TABLE pgbench_accounts IS 'mixed workload';
\elif :k = 2
ALTER TABLE mixed_side ADD COLUMN IF NOT EXISTS note text;
\else
CREATE INDEX IF NOT EXISTS mixed_side_v ON mixed_side (v);
\endif
EOF
# Statements per transaction of each script, in the order the workload lists them.
declare -A SCRIPTS=([select]="-b select-only" [mix]="-b tpcb-like@50 -b select-only@50"
                    [mix+ddl]="-b tpcb-like@49 -b select-only@50 -f $TMP/ddl.sql@1")
declare -A STMTS=([select]="1" [mix]="7 1" [mix+ddl]="7 1 2")
WORKLOADS=(select mix mix+ddl)
declare -A PORT=([direct]=$PG_PORT [pgbouncer]=$PGB_PORT [schemagate]=$SG_PORT)
declare -A PID=([direct]="" [pgbouncer]=$PGB_PID [schemagate]=$SG_PID)

cpu_ticks() {  # cpu_ticks ROOT_PID: utime+stime+cutime+cstime over the process tree of ROOT_PID
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
    { r=$0; i=index(r,") "); pid=substr(r,1,index(r," ")-1); split(substr(r,i+2),f," "); ppid[pid]=f[2]; t[pid]=f[12]+f[13]+f[14]+f[15] }
    function under(p, n) { for (n = 0; p != "" && p != 0 && n < 64; n++) { if (p == root) return 1; p = ppid[p] } return 0 }
    END { for (p in t) if (under(p)) s += t[p]; print s + 0 }'
}
metric() {  # metric NAME{LABELS}: the value scraped from /metrics (0 when absent)
  python3 - "$ADMIN_PORT" "$1" <<'EOF'
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
print(next((l.split()[-1] for l in body.splitlines() if l.split(" ")[0] == sys.argv[2]), "0"))
EOF
}

RAW="$TMP/raw.tsv"
printf 'rep\tmode\tworkload\ttarget\tstatements\tproxy_s\tserver_s\twall_s\n' >"$RAW"
run_one() {  # run_one REP MODE WORKLOAD TARGET
  local rep=$1 mode=$2 w=$3 t=$4 out="$TMP/out-$1-$2-$3-$4.txt" p0 p1 s0 s1 t0 t1 stmts
  local proxy=${PID[$t]}   # empty for direct: no proxy, its CPU is 0
  p0=0; [[ -n $proxy ]] && p0=$(cpu_ticks "$proxy")
  s0=$(cpu_ticks "$PG_PID"); t0=$(date +%s.%N)
  # shellcheck disable=SC2046,SC2086
  $(pin "$CLIENT_CPUS") "$PGBIN/pgbench" -n ${SCRIPTS[$w]} -M "$mode" -c "$CLIENTS" -j "$JOBS" -T "$DURATION" \
    -h 127.0.0.1 -p "${PORT[$t]}" -U postgres bench >"$out" 2>&1 || { cat "$out" >&2; die "pgbench $w $t failed"; }
  t1=$(date +%s.%N); p1=0; [[ -n $proxy ]] && p1=$(cpu_ticks "$proxy")
  s1=$(cpu_ticks "$PG_PID")
  # " - 12345 transactions (...)" once per script, in -b/-f order
  stmts=$(awk -v per="${STMTS[$w]}" 'BEGIN { n = split(per, k, " ") }
            /^ - [0-9]+ transactions/ { s += $2 * k[++i] } /^number of transactions actually processed/ { tot = $6 }
            END { if (i == 0) s = tot * k[1]; print s + 0 }' "$out")
  grep -q "number of failed transactions: 0" "$out" || log "  failed transactions in $w $t: $(grep 'failed' "$out")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$mode" "$w" "$t" "$stmts" \
    "$(((p1 - p0)))" "$(((s1 - s0)))" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >>"$RAW"
}

log "warm-up"
for t in direct pgbouncer schemagate; do
  "$PGBIN/pgbench" -n -b tpcb-like -c "$CLIENTS" -j "$JOBS" -T 2 -h 127.0.0.1 -p "${PORT[$t]}" -U postgres bench >/dev/null 2>&1
done
ddl0=$(metric 'schemagate_requests_total{path="parsed"}') cq0=$(metric schemagate_catalog_queries_total)
cqs0=$(metric schemagate_catalog_query_duration_seconds_sum)
for ((rep = 1; rep <= REPS; rep++)); do
  for mode in $MODES; do
    for w in "${WORKLOADS[@]}"; do
      targets=(direct pgbouncer schemagate)   # rotated every repetition
      targets=("${targets[@]:$((rep % 3))}" "${targets[@]:0:$((rep % 3))}")
      for t in "${targets[@]}"; do
        log "rep $rep/$REPS  $mode  $w  $t"
        run_one "$rep" "$mode" "$w" "$t"
      done
    done
  done
done
ddl1=$(metric 'schemagate_requests_total{path="parsed"}') cq1=$(metric schemagate_catalog_queries_total)
cqs1=$(metric schemagate_catalog_query_duration_seconds_sum)
pass=$(metric 'schemagate_statements_total{outcome="pass"}') warn=$(metric 'schemagate_statements_total{outcome="warn"}')
rej=$(metric 'schemagate_statements_total{outcome="reject"}') hold=$(metric 'schemagate_statements_total{outcome="hold"}')
rew=$(metric 'schemagate_statements_total{outcome="rewrite"}')

echo
echo "=== mixed workload: -c $CLIENTS -j $JOBS, ${DURATION}s x $REPS (medians), scale $SCALE, huge_pages=$hp," \
  "pinning client=${CLIENT_CPUS:-none} server=${SERVER_CPUS:-none} proxy=${PROXY_CPUS:-none}, nproc=$(nproc)"
awk -F'\t' -v tck="$CLK_TCK" '
  function median(k,   n, i, j, t, a) {
    n = cnt[k]; if (n == 0) return 0
    for (i = 1; i <= n; i++) a[i] = val[k, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  function add(k, v) { cnt[k]++; val[k, cnt[k]] = v + 0 }
  NR == 1 { next }
  {
    k = $2 SUBSEP $3
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    add(k SUBSEP $4 SUBSEP "sps", $5 / $8)
    if ($5 > 0) { add(k SUBSEP $4 SUBSEP "proxy", $6 / tck * 1e6 / $5); add(k SUBSEP $4 SUBSEP "server", $7 / tck * 1e6 / $5) }
  }
  END {
    printf "%-9s %-8s %12s %12s %12s %9s %9s %18s %11s %19s\n", "mode", "workload", "direct st/s", "pgb st/s", "sg st/s",
      "sg/direct", "sg/pgb", "proxy us/st pgb→sg", "sg vs -S", "server us/st d/pgb/sg"
    for (i = 1; i <= n; i++) {
      split(order[i], p, SUBSEP)
      d = median(order[i] SUBSEP "direct" SUBSEP "sps"); b = median(order[i] SUBSEP "pgbouncer" SUBSEP "sps")
      s = median(order[i] SUBSEP "schemagate" SUBSEP "sps")
      pc = median(order[i] SUBSEP "schemagate" SUBSEP "proxy"); bc = median(order[i] SUBSEP "pgbouncer" SUBSEP "proxy")
      base = median(p[1] SUBSEP "select" SUBSEP "schemagate" SUBSEP "proxy")
      printf "%-9s %-8s %12.0f %12.0f %12.0f %9.2f %9.2f %8.1f → %-7.1f %11.2f %7.1f/%.1f/%.1f\n", p[1], p[2], d, b, s,
        (d > 0 ? s / d : 0), (b > 0 ? s / b : 0), bc, pc, (base > 0 ? pc / base : 0),
        median(order[i] SUBSEP "direct" SUBSEP "server"), median(order[i] SUBSEP "pgbouncer" SUBSEP "server"),
        median(order[i] SUBSEP "schemagate" SUBSEP "server")
    }
  }' "$RAW"
ddl_msgs=$((ddl1 - ddl0))
awk -v m="$ddl_msgs" -v q="$((cq1 - cq0))" -v s0="$cqs0" -v s1="$cqs1" 'BEGIN {
  printf "policy over the measured runs: %d messages parsed (all other messages went by the fast path, unparsed), %d catalog facts queries", m, q
  if (m > 0) printf " (%.2f per parsed message)", q / m
  if (q > 0) printf ", mean round trip %.3f ms", (s1 - s0) / q * 1000
  printf "\n" }'
echo "statements judged since start: pass $pass, warn $warn, rewrite $rew, hold $hold, reject $rej"
[[ -n ${RAW_TSV:-} ]] && cp "$RAW" "$RAW_TSV"
exit 0
