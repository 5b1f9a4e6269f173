#!/usr/bin/env bash
# Benchmark (a script, not a test): schemagate against PgBouncer and a direct connection in the
# two layouts it is deployed in, one command, one summary table side by side.
#
#   gateway  PIN=1: pgbench on CPU 1; PostgreSQL, PgBouncer and schemagate on CPU 0
#            (a shared gateway host: the proxy shares its core with the database)
#   sidecar  CLIENT_CPUS=1 PROXY_CPUS=1 SERVER_CPUS=0: PgBouncer and schemagate on the client's
#            core (a sidecar shares its application's CPU)
#
# Each layout is one interleaved run of ../shared/bench/pgbench-compare.sh (through
# tests/bench/pgbench-vs-pgbouncer.sh: Release build, example policy in enforce mode), with
# huge pages so that no target is measured on cold backends. The full per-layout reports are
# printed as they finish, then the summary: per case, schemagate's tps / PgBouncer's (session
# mode) and the proxy's CPU microseconds per transaction, PgBouncer → schemagate.
#
#   tests/bench/layouts.sh [BUILD_DIR]
#
# Knobs: LAYOUTS="gateway sidecar" (either or both), FLOOR=1 also runs the bare forwarder
# (tests/bench/min_forwarder.cc) in each layout and adds a schemagate / floor column, OUT=dir
# keeps the raw runs there (default: a temp dir, removed). Everything the harness takes
# (QUICK=1, DURATION, REPS, MODES, CASES_FILTER, SG_BUSY_POLL_US, SG_BENCH_ARGS, ...) is
# passed through.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-release}
layouts=${LAYOUTS:-gateway sidecar}
out=${OUT:-}
if [[ -z $out ]]; then
  out=$(mktemp -d /tmp/sg-layouts.XXXXXX)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

run_layout() {  # run_layout LAYOUT SUBJECT
  local layout=$1 subject=$2 env=()
  case $layout in
    gateway) env=(PIN=1) ;;
    sidecar) env=(CLIENT_CPUS=1 PROXY_CPUS=1 SERVER_CPUS=0) ;;
    *) echo "layouts: unknown layout '$layout' (gateway, sidecar)" >&2; exit 2 ;;
  esac
  echo "=== layout $layout, subject $subject ($(date +%H:%M:%S)) ==="
  env "${env[@]}" SUBJECT="$subject" RAW_TSV="$out/$layout-$subject.tsv" \
    bash "$root/tests/bench/pgbench-vs-pgbouncer.sh" "$build"
}

for layout in $layouts; do
  run_layout "$layout" schemagate
  if [[ ${FLOOR:-0} == 1 ]]; then run_layout "$layout" floor; fi
done

echo
echo "=== summary: schemagate vs PgBouncer (session mode), medians of each cell ==="
echo "settings: QUICK=${QUICK:-0} (1: DURATION=3 REPS=1 SCALE=2) DURATION=${DURATION:-5} REPS=${REPS:-3} HUGE_PAGES=${HUGE_PAGES:-on} busy_poll_us=${SG_BUSY_POLL_US:-default}" \
  "args='${SG_BENCH_ARGS:-}' nproc=$(nproc)"
for layout in $layouts; do
  floor_tsv="$out/$layout-floor.tsv"
  [[ -f $floor_tsv ]] || floor_tsv=/dev/null
  awk -F'\t' -v layout="$layout" -v floorfile="$floor_tsv" '
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
      src = (FILENAME == floorfile) ? "floor" : "main"
      t = $3
      if (src == "floor" && t != "floor") next          # the floor file: only its subject
      if (!(($2) in seen)) { seen[$2] = 1; order[++nc] = $2 }
      add($2 SUBSEP t SUBSEP "tps", $4)
      if ($8 > 0 && t != "direct") add($2 SUBSEP t SUBSEP "cpu", $13 * 1e6 / $8)
    }
    END {
      printf "\n%-8s %-22s %9s %9s %9s %22s\n", "layout", "case", "sg/pgb", "sg/direct", "sg/floor", "proxy cpu us/tx pgb→sg"
      for (i = 1; i <= nc; i++) {
        c = order[i]
        sg = median(c SUBSEP "schemagate" SUBSEP "tps"); pg = median(c SUBSEP "pgb-sess" SUBSEP "tps")
        di = median(c SUBSEP "direct" SUBSEP "tps"); fl = median(c SUBSEP "floor" SUBSEP "tps")
        printf "%-8s %-22s %9s %9s %9s %10s → %-9s\n", layout, c, ratio(sg, pg), ratio(sg, di), ratio(sg, fl),
          us(median(c SUBSEP "pgb-sess" SUBSEP "cpu")), us(median(c SUBSEP "schemagate" SUBSEP "cpu"))
      }
    }' "$out/$layout-schemagate.tsv" "$floor_tsv"
done
