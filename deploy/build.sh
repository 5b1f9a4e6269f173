#!/usr/bin/env bash
# Configures and builds one build tree.   deploy/build.sh DIR [cmake args...]
# ccache is shared between trees (CCACHE_NOHASHDIR: the build dir is not part of the key).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$1
shift
# CCACHE_BASEDIR: paths inside the checkout are hashed relative to it, so a fresh clone
# elsewhere (CI) still hits the cache.
export CCACHE_NOHASHDIR=1 CCACHE_BASEDIR=$root CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
cmake -S "$root" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log" >&2; exit 1; }
# SG_TARGETS: build only these targets (default: all)
# shellcheck disable=SC2086
ninja -C "$dir" -j "${SG_JOBS:-$(nproc)}" ${SG_TARGETS:-}
