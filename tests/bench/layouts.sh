#!/usr/bin/env bash
# Benchmark (a script, not a test): schemagate against PgBouncer and a direct connection in the
# two layouts it is deployed in, one command, one summary table side by side.
#
#   gateway  PIN=1: pgbench on CPU 1; PostgreSQL, PgBouncer and schemagate on CPU 0
#            (a shared gateway host: the proxy shares its core with the database)
#   sidecar  CLIENT_CPUS=1 PROXY_CPUS=1 SERVER_CPUS=0: PgBouncer and schemagate on the client's
#            core (a sidecar shares its application's CPU)
#   unpinned no taskset: the scheduler spreads pgbench, PostgreSQL and the proxies over both cores
#            (where a second I/O thread has a core to run on)
#
# Each layout is one interleaved run of ../shared/bench/pgbench-compare.sh (through
# tests/bench/pgbench-vs-pgbouncer.sh: Release build, example policy in enforce mode), with
# huge pages so that no target is measured on cold backends. The full per-layout reports are
# printed as they finish, then the summary: per case, schemagate's tps / PgBouncer's (session
# mode) and the proxy's CPU microseconds per transaction, PgBouncer → schemagate.
#
#   tests/bench/layouts.sh [BUILD_DIR]
#
# Knobs: LAYOUTS="gateway sidecar" (any of gateway, sidecar, unpinned), WORKERS="1" (schemagate's
# --workers; a list runs schemagate once per value in each layout: the scaling curve), FLOOR=1 also
# runs the bare forwarder (tests/bench/min_forwarder.cc) in each layout and adds schemagate / floor
# and the floor's CPU per transaction (runs are compared through their own PgBouncer),
# REPORT_ONLY=1 prints the summary again from the raw runs kept in OUT (nothing is run), OUT=dir
# keeps the raw runs there (default: a temp dir, removed). Everything the harness takes
# (QUICK=1, DURATION, REPS, MODES, CASES_FILTER, SG_BUSY_POLL_US, SG_BENCH_ARGS, ...) is
# passed through.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-release}
layouts=${LAYOUTS:-gateway sidecar}
out=${OUT:-}
if [[ -z $out && ${REPORT_ONLY:-0} == 1 ]]; then
  echo "layouts: REPORT_ONLY=1 needs OUT=dir (the raw runs of an earlier run)" >&2; exit 2
fi
if [[ -z $out ]]; then
  out=$(mktemp -d /tmp/sg-layouts.XXXXXX)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

workers_list=${WORKERS:-1}
base_args=${SG_BENCH_ARGS:-}

run_layout() {  # run_layout LAYOUT SUBJECT TSV [WORKERS]
  local layout=$1 subject=$2 tsv=$3 workers=${4:-} env=()
  case $layout in
    gateway) env=(PIN=1) ;;
    sidecar) env=(CLIENT_CPUS=1 PROXY_CPUS=1 SERVER_CPUS=0) ;;
    unpinned) env=(PIN=0 CLIENT_CPUS= PROXY_CPUS= SERVER_CPUS=) ;;
    *) echo "layouts: unknown layout '$layout' (gateway, sidecar, unpinned)" >&2; exit 2 ;;
  esac
  echo "=== layout $layout, subject $subject${workers:+, --workers $workers} ($(date +%H:%M:%S)) ==="
  env "${env[@]}" SUBJECT="$subject" RAW_TSV="$tsv" SG_BENCH_ARGS="$base_args${workers:+ --workers $workers}" \
    bash "$root/tests/bench/pgbench-vs-pgbouncer.sh" "$build"
}

for layout in $layouts; do
  [[ ${REPORT_ONLY:-0} == 1 ]] && break
  for w in $workers_list; do run_layout "$layout" schemagate "$out/$layout-w$w-schemagate.tsv" "$w"; done
  if [[ ${FLOOR:-0} == 1 ]]; then run_layout "$layout" floor "$out/$layout-floor.tsv"; fi
done

echo
echo "=== summary: schemagate vs PgBouncer (session mode), medians of each cell ==="
echo "settings: QUICK=${QUICK:-0} (1: DURATION=3 REPS=1 SCALE=2) DURATION=${DURATION:-5} REPS=${REPS:-3} HUGE_PAGES=${HUGE_PAGES:-on} busy_poll_us=${SG_BUSY_POLL_US:-default}" \
  "args='$base_args' workers='$workers_list' nproc=$(nproc) $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
echo "sg/floor: (schemagate / PgBouncer in schemagate's run) / (floor / PgBouncer in the floor's run)"
printf "\n%-13s %-22s %7s %9s %9s %29s\n" "layout" "case" "sg/pgb" "sg/direct" "sg/floor" "proxy cpu us/tx pgb→sg (floor)"
for layout in $layouts; do
  floor_tsv="$out/$layout-floor.tsv"
  [[ -f $floor_tsv ]] || floor_tsv=/dev/null
  for w in $workers_list; do
  label=$layout; [[ $workers_list != 1 ]] && label="$layout/w$w"
  awk -F'\t' -v layout="$label" -v floorfile="$floor_tsv" '
    function median(k,   n, i, j, t, a) {
      n = cnt[k]; if (n == 0) return ""
      for (i = 1; i <= n; i++) a[i] = val[k, i]
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
      return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    function add(k, v) { cnt[k]++; val[k, cnt[k]] = v + 0 }
    function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
    function us(v) { return (v == "") ? "-" : sprintf("%.1f", v) }
    FNR == 1 { next }
    $4 == "" || $10 != 0 { next }                       # failed runs
    {
      t = $3
      if (FILENAME == floorfile) {                      # the floor run: the floor and its PgBouncer
        if (t == "floor") { } else if (t == "pgb-sess") t = "floor-pgb"; else next
      }
      if (!(($2) in seen)) { seen[$2] = 1; order[++nc] = $2 }
      add($2 SUBSEP t SUBSEP "tps", $4)
      if ($8 > 0 && t != "direct") add($2 SUBSEP t SUBSEP "cpu", $13 * 1e6 / $8)
    }
    END {
      for (i = 1; i <= nc; i++) {
        c = order[i]
        sg = median(c SUBSEP "schemagate" SUBSEP "tps"); pg = median(c SUBSEP "pgb-sess" SUBSEP "tps")
        di = median(c SUBSEP "direct" SUBSEP "tps"); fl = median(c SUBSEP "floor" SUBSEP "tps")
        fpg = median(c SUBSEP "floor-pgb" SUBSEP "tps")
        rf = (sg == "" || pg == "" || fl == "" || fpg == "" || pg == 0 || fl == 0) ? "-" : sprintf("%.2f", (sg / pg) / (fl / fpg))
        fc = median(c SUBSEP "floor" SUBSEP "cpu")
        printf "%-13s %-22s %7s %9s %9s %10s → %-6s %s\n", layout, c, ratio(sg, pg), ratio(sg, di), rf,
          us(median(c SUBSEP "pgb-sess" SUBSEP "cpu")), us(median(c SUBSEP "schemagate" SUBSEP "cpu")),
          (fc == "" ? "" : "(" us(fc) ")")
      }
    }' "$out/$layout-w$w-schemagate.tsv" "$floor_tsv"
  done
done
