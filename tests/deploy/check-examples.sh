#!/usr/bin/env bash
# Every example configuration in deploy/ must pass `schemagate config check`.
#
#   bash tests/deploy/check-examples.sh SCHEMAGATE_BINARY
#
# deploy/schemagate.example.yaml is checked where it is (its policy file is beside it).
# deploy/examples/*.yaml are written for /etc/schemagate/schemagate.yaml next to policy.yaml and
# the secret files they name (admin tokens, webhook secret), which `config check` reads. So each
# is copied into a scratch directory standing in for /etc/schemagate, with
# deploy/policy.example.yaml as policy.yaml and placeholder secret files, and checked there.
# A copy with an unknown key must be refused (exit 2), so a checker that accepts anything fails.
#
# Exit 0: all valid; 1: an example is invalid or the negative control was accepted; 2: usage.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-}
if [[ -z $bin || ! -x $bin ]]; then
  echo "usage: $0 SCHEMAGATE_BINARY (got '${bin}')" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 checked=0

check() {  # check LABEL FILE
  local out rc
  out=$("$bin" config check "$2" 2>&1)
  rc=$?
  checked=$((checked + 1))
  if ((rc == 0)); then
    echo "ok    $1"
  else
    echo "FAIL  $1 (exit $rc):" >&2
    sed 's/^/      /' <<<"$out" >&2
    failed=$((failed + 1))
  fi
}

# stage EXAMPLE DIR: the example as DIR/schemagate.yaml with /etc/schemagate/ pointing at DIR.
stage() {
  local src=$1 dir=$2 f
  mkdir -p "$dir"
  sed "s#/etc/schemagate/#$dir/#g" "$src" >"$dir/schemagate.yaml"
  cp "$root/deploy/policy.example.yaml" "$dir/policy.yaml"
  for f in $(sed -n 's/^ *tokens_file: *\([^ #]*\).*/\1/p' "$dir/schemagate.yaml"); do
    printf '# placeholder\nci-approver:%s\n' 0123456789abcdef0123456789abcdef >"$f"
  done
  for f in $(sed -n 's/^ *secret_file: *\([^ #]*\).*/\1/p' "$dir/schemagate.yaml"); do
    printf '%s\n' ci-webhook-secret-0123456789abcdef >"$f"
  done
}

check deploy/schemagate.example.yaml "$root/deploy/schemagate.example.yaml"
n=0
for ex in "$root"/deploy/examples/*.yaml; do
  name=$(basename "$ex" .yaml)
  stage "$ex" "$tmp/$name"
  check "deploy/examples/$name.yaml" "$tmp/$name/schemagate.yaml"
  n=$((n + 1))
done
if ((n < 3)); then
  echo "FAIL  expected at least 3 examples in deploy/examples, found $n" >&2
  failed=$((failed + 1))
fi

# Negative control: the same checker must refuse an unknown key.
stage "$root/deploy/examples/observe.yaml" "$tmp/negative"
cp "$tmp/negative/schemagate.yaml" "$tmp/negative/bad.yaml"
printf 'listen_tls_bogus: true\n' >>"$tmp/negative/bad.yaml"
"$bin" config check "$tmp/negative/bad.yaml" >"$tmp/negative.out" 2>&1
rc=$?
if ((rc == 2)) && grep -q 'listen_tls_bogus' "$tmp/negative.out"; then
  echo "ok    negative control: an unknown key is refused (exit 2, key named)"
else
  echo "FAIL  negative control: an unknown key gave exit $rc:" >&2
  sed 's/^/      /' "$tmp/negative.out" >&2
  failed=$((failed + 1))
fi

echo "checked with $("$bin" --version 2>/dev/null): $checked configurations and one negative control"
echo "check-examples: $((checked + 1 - failed)) passed, $failed failed"
((failed == 0))
