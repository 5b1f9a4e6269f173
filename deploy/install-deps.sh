#!/usr/bin/env bash
# Installs everything schemagate needs to build, test and run, from Debian 12 packages.
# Idempotent: does nothing when all packages are present. Run as root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache clang libclang-rt-14-dev
  libboost-dev libboost-system-dev libssl-dev openssl
  libpg-query-dev libprotobuf-c-dev libyaml-cpp-dev libspdlog-dev libgtest-dev nlohmann-json3-dev libpq-dev libsqlite3-dev
  postgresql-15 postgresql-client-15 pgbouncer
  python3 procps util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
