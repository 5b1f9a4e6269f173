#!/usr/bin/env bash
# PROXY_CMD for ../shared/bench/pgbench-compare.sh: PgBouncer (session mode) reaching the server
# over its Unix socket, so that schemagate with a Unix-socket upstream has a like-for-like
# reference. Uses the variables the harness exports (PG_PORT, PG_DB, PROXY_PORT, BENCH_TMP, RUN_AS).
set -euo pipefail
cfg=$BENCH_TMP/pgbouncer-unix.ini
cat >"$cfg" <<INI
[databases]
$PG_DB = host=$BENCH_TMP port=$PG_PORT dbname=$PG_DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PROXY_PORT
unix_socket_dir =
auth_type = trust
auth_file = $BENCH_TMP/userlist.txt
pool_mode = session
default_pool_size = 20
max_client_conn = 200
max_db_connections = 0
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
stats_period = 3600
INI
chmod 644 "$cfg"
if [[ $(id -u) == 0 ]]; then
  exec runuser -u "${RUN_AS:-postgres}" -- pgbouncer "$cfg"
fi
exec pgbouncer "$cfg"
