#!/usr/bin/env bash
# Runs every built libFuzzer target for FUZZ_SECONDS (default 20) each, seeded from
# tests/fuzz/corpus/<target>/ when present. Exit non-zero on the first crash.
#   tests/fuzz/run-fuzzers.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: run-fuzzers.sh BUILD_DIR}
seconds=${FUZZ_SECONDS:-20}
shopt -s nullglob
targets=("$build"/tests/fuzz/fuzz_*)
if ((${#targets[@]} == 0)); then
  echo "run-fuzzers: no fuzz targets in $build/tests/fuzz" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  [[ -x $t && -f $t ]] || continue
  name=$(basename "$t")
  mkdir -p "$work/$name"
  seeds=()
  [[ -d $root/tests/fuzz/corpus/$name ]] && seeds=("$root/tests/fuzz/corpus/$name")
  echo "run-fuzzers: $name for ${seconds}s"
  if ! "$t" -max_total_time="$seconds" -print_final_stats=0 -artifact_prefix="$work/$name-" \
       "$work/$name" "${seeds[@]}" >"$work/$name.log" 2>&1; then
    tail -n 40 "$work/$name.log" >&2
    echo "run-fuzzers: $name FAILED (crash input kept in $work is printed above)" >&2
    trap - EXIT
    exit 1
  fi
  grep -E "Done [0-9]+ runs" "$work/$name.log" | tail -n 1 || true
done
echo "run-fuzzers: all targets passed"
