#!/usr/bin/env bash
# Installs the npm packages of the migration-tool test projects (tests/tools/knex: knex and pg,
# pinned by its package-lock.json) for tests/integration/migration_tools_test.cc. Alembic comes
# from Debian (python3-alembic, deploy/install-deps.sh).
#
# Idempotent: `npm ci` runs only when node_modules is missing or was installed from another
# package-lock.json (a sha256 of the lock file is kept in node_modules/.sg-lock-sha256).
# Offline-tolerant: when node/npm are absent or the registry cannot be reached it warns and
# exits 0; the test then skips knex with a message saying so (an older node_modules is kept).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$here/knex
stamp=$project/node_modules/.sg-lock-sha256

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "tools-install: node/npm not found: the knex migration test will be skipped" >&2
  exit 0
fi
want=$(sha256sum "$project/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -f $project/node_modules/knex/package.json ]]; then
  echo "tools-install: tests/tools/knex/node_modules is current"
  exit 0
fi
echo "tools-install: npm ci in tests/tools/knex (node $(node --version), npm $(npm --version))"
if (cd "$project" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error); then
  echo "$want" >"$stamp"
  echo "tools-install: done"
else
  echo "tools-install: npm ci failed (is the npm registry reachable?): the knex migration test will be" \
       "skipped unless an earlier node_modules works" >&2
fi
exit 0
