#!/usr/bin/env bash
# The README's test command: installs, builds, and runs every test.
#   1. Debian packages (deploy/install-deps.sh)
#   2. the fuzz targets (clang, libFuzzer) and a short run of each
#   3. the test build (GCC, ASan + UBSan, warnings as errors) and every CTest test in it:
#      unit, integration (real PostgreSQL 15, psql, pgbench, libpq) and the regression suite
#      through the proxy (skipped with a message where ../shared is absent)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)

bash deploy/install-deps.sh

echo "== fuzz targets (clang + libFuzzer)"
CXX=clang++ SG_TARGETS=fuzzers bash deploy/build.sh build-fuzz -DSG_BUILD_FUZZERS=ON -DSG_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash tests/fuzz/run-fuzzers.sh build-fuzz

echo "== test build (GCC, ASan + UBSan)"
bash deploy/build.sh build-asan -DSG_SANITIZE='address;undefined' -DSG_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo "== tests"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 900
echo "== deployment files (example configs, Helm chart with the real helm)"
bash tests/deploy/check-examples.sh build-asan/schemagate
echo "== the README's demo and the walkthrough it prints"
bash tests/deploy/demo-test.sh build-asan/schemagate
rc=0
bash tests/helm/run.sh build-asan/schemagate || rc=$?
if ((rc == 77)); then echo "helm chart test skipped (see above)"; elif ((rc != 0)); then exit "$rc"; fi
echo "run-all: finished in $(($(date +%s) - start)) s"
