#!/usr/bin/env bash
# Installs everything schemagate needs to build, test and run, from Debian 12 packages.
# Idempotent: does nothing when all packages are present. Run as root. Ends with
# tests/tools/install.sh (npm packages of the migration-tool tests).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache clang libclang-rt-14-dev
  libboost-dev libboost-system-dev libssl-dev openssl
  libpg-query-dev libprotobuf-c-dev libyaml-cpp-dev libspdlog-dev libgtest-dev nlohmann-json3-dev libpq-dev libsqlite3-dev
  postgresql-15 postgresql-client-15 pgbouncer
  python3 procps util-linux
  python3-alembic python3-psycopg2 python3-prometheus-client
)
# node and npm run the knex test project (tests/tools/knex). Debian's nodejs/npm only where
# there is no node: a NodeSource nodejs bundles npm and conflicts with Debian's npm package
# (installing it would remove that nodejs), and a node outside dpkg is left alone.
if ! command -v node >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1 && dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -qv nodesource; then
  PACKAGES+=(npm)
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  if [[ $(id -u) != 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi
# The migration-tool test projects' npm packages (knex, pg); skipped when current, warns offline.
bash "$root/tests/tools/install.sh"
