#!/usr/bin/env bash
# A local PostgreSQL server of the project's own, from Debian's packages.
#
#   scripts/postgres.sh start|stop|status
#
# start: installs the `postgresql` package if missing, initdb's .local/postgres/data
# once (owned by the `postgres` OS user, as the server refuses to run as root),
# starts it on 127.0.0.1 and waits until it accepts connections, then creates the
# service's role and database if missing. Idempotent. Reads CRM_POSTGRES_PORT
# (55432), CRM_POSTGRES_USER (crm), CRM_POSTGRES_PASSWORD (crm),
# CRM_POSTGRES_DBNAME (crm_timeline).
source "$(dirname "$0")/env.sh"

PORT="${CRM_POSTGRES_PORT:-55432}"
DB_USER="${CRM_POSTGRES_USER:-crm}"
DB_PASSWORD="${CRM_POSTGRES_PASSWORD:-crm}"
DB_NAME="${CRM_POSTGRES_DBNAME:-crm_timeline}"
PG_HOME="$LOCAL_DIR/postgres"
DATA="$PG_HOME/data"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] || [ ! -x "$dir/pg_ctl" ]; then
    echo "==> installing PostgreSQL (apt-get install postgresql)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

as_postgres() { runuser -u postgres -- "$@"; }
running() { [ -f "$DATA/postmaster.pid" ] && as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
psql_admin() { as_postgres "$BIN/psql" -h "$PG_HOME" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

start() {
  BIN=$(pg_bin)
  if running; then echo "postgres already running on 127.0.0.1:$PORT"; else
    mkdir -p "$PG_HOME"
    chown postgres:postgres "$PG_HOME"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
      cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_HOME'
max_connections = 200
shared_buffers = 256MB
CONF
    fi
    as_postgres "$BIN/pg_ctl" -D "$DATA" -o "-p $PORT" -l "$PG_HOME/server.log" -w -t 60 start >/dev/null \
      || { echo "postgres did not start:" >&2; tail -n 40 "$PG_HOME/server.log" >&2; exit 1; }
    echo "postgres started on 127.0.0.1:$PORT"
  fi
  for _ in $(seq 1 120); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
  done
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != 1 ]; then
    psql_admin -c "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\""
  fi
}

stop() {
  BIN=$(pg_bin)
  if running; then as_postgres "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; echo "postgres stopped"
  else echo "postgres is not running"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) BIN=$(pg_bin); if running; then echo "postgres running on 127.0.0.1:$PORT"; else echo "postgres not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
