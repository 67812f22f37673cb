#!/usr/bin/env bash
# A local PostgreSQL server of the project's own, from Debian's packages.
#
#   scripts/postgres.sh start|stop|status
#
# start: installs the `postgresql` package (apt-get) if missing, initdb's
#   .local/postgres/data once with the newest /usr/lib/postgresql/*/bin (not the
#   packaged cluster), starts it on 127.0.0.1 only (socket in .local/postgres),
#   waits (60 s) for pg_isready, then creates the service's role and database if
#   missing. A no-op when it already runs. Log: .local/postgres/server.log.
# stop: pg_ctl stop -m fast. status: exit 0 if running, else 3. All idempotent;
#   start and stop hold a lock, so concurrent callers are safe.
#
# initdb and postgres refuse to run as root, so they run as the `postgres` OS user,
# which must be able to reach .local/. If it cannot (a parent folder it may not
# traverse) or the socket path would be too long, the server lives in
# /var/tmp/crm-timeline-pg-<hash of .local's path> instead, and start says so.
# Settings for tests: max_connections 200, shared_buffers 256MB, fsync stays on
# (the tests check crash safety); rewritten into data/crm-timeline.conf each start.
# Local socket: peer auth (the postgres OS user); TCP 127.0.0.1: scram-sha-256.
#
# Reads CRM_POSTGRES_PORT (55432), CRM_POSTGRES_USER (crm), CRM_POSTGRES_PASSWORD
# (crm), CRM_POSTGRES_DBNAME (crm_timeline), and CRM_LOCAL_DIR via env.sh.
source "$(dirname "$0")/env.sh"
cd /   # the postgres OS user may not be allowed into the caller's folder

PORT="${CRM_POSTGRES_PORT:-55432}"
DB_USER="${CRM_POSTGRES_USER:-crm}"
DB_PASSWORD="${CRM_POSTGRES_PASSWORD:-crm}"
DB_NAME="${CRM_POSTGRES_DBNAME:-crm_timeline}"

# BIN: the newest installed server's bin folder; fails if there is none.
find_bin() {
  local ctl=(/usr/lib/postgresql/*/bin/pg_ctl)
  [ -x "${ctl[0]}" ] || return 1
  BIN=$(dirname "$(printf '%s\n' "${ctl[@]}" | sort -V | tail -n 1)")
}

install_postgres() {
  find_bin && return
  echo "==> installing PostgreSQL (apt-get install postgresql)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  find_bin || { echo "no /usr/lib/postgresql/*/bin/pg_ctl after installing postgresql" >&2; exit 1; }
}

as_postgres() { runuser -u postgres -- "$@"; }

# PG_HOME (socket, log) and DATA: under .local when the postgres user can get there.
choose_home() {
  PG_HOME="$LOCAL_DIR/postgres"
  local why=""
  as_postgres test -x "$LOCAL_DIR" || why="the postgres OS user cannot reach $LOCAL_DIR"
  [ ${#PG_HOME} -le 80 ] || why="$PG_HOME is too long a path for a socket"
  if [ -n "$why" ]; then
    PG_HOME="/var/tmp/crm-timeline-pg-$(printf '%s' "$LOCAL_DIR" | sha256sum | cut -c1-12)"
    MOVED=" (data in $PG_HOME, as $why)"
  fi
  DATA="$PG_HOME/data"
}

running() { [ -f "$DATA/postmaster.pid" ] && as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
log_tail() { tail -n 40 "$PG_HOME/server.log" >&2 || true; exit 1; }

start() {
  install_postgres
  choose_home
  if running; then
    echo "postgres already running on 127.0.0.1:$PORT${MOVED:-}"
  elif "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    # Another checkout's server (e.g. CI in a fresh clone on a dev machine): every
    # test and tool works in a schema of its own, so sharing it is safe if we can log in.
    if PGPASSWORD="$DB_PASSWORD" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d "$DB_NAME" \
        -qAt -c "SELECT 1" >/dev/null 2>&1; then
      echo "postgres already running on 127.0.0.1:$PORT (another checkout's server)"; return
    fi
    echo "port $PORT is taken by a PostgreSQL server where $DB_USER cannot log in to $DB_NAME" >&2
    exit 1
  else
    mkdir -p "$PG_HOME"
    chown postgres:postgres "$PG_HOME"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    grep -q "^include_if_exists = 'crm-timeline.conf'" "$DATA/postgresql.conf" \
      || echo "include_if_exists = 'crm-timeline.conf'" | as_postgres tee -a "$DATA/postgresql.conf" >/dev/null
    as_postgres tee "$DATA/crm-timeline.conf" >/dev/null <<CONF
# Written by scripts/postgres.sh on every start.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PG_HOME'
max_connections = 200
shared_buffers = 256MB
fsync = on
CONF
    # 9>&- : the server must not inherit (and so hold) our lock.
    as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$PG_HOME/server.log" -w -t 60 start >/dev/null 9>&- \
      || { echo "postgres did not start; last lines of $PG_HOME/server.log:" >&2; log_tail; }
    echo "postgres started on 127.0.0.1:$PORT${MOVED:-}"
  fi
  for _ in $(seq 1 120); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
  done
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" \
    || { echo "postgres is not accepting connections on 127.0.0.1:$PORT:" >&2; log_tail; }
  # The role (its password follows CRM_POSTGRES_PASSWORD) and its database, if missing.
  as_postgres "$BIN/psql" -h "$PG_HOME" -p "$PORT" -d postgres -qAt -v ON_ERROR_STOP=1 \
    -v user="$DB_USER" -v password="$DB_PASSWORD" -v dbname="$DB_NAME" <<'SQL'
SELECT format('CREATE ROLE %I', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" LOGIN CREATEDB PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SQL
}

stop() {
  if find_bin && choose_home && running; then
    as_postgres "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null; echo "postgres stopped"
  else
    echo "postgres is not running"
  fi
}

case "${1:-}" in
  start|stop) exec 9>"$LOCAL_DIR/.postgres.lock"; flock 9; "$1" ;;
  status)
    if find_bin && choose_home && running; then echo "postgres running on 127.0.0.1:$PORT${MOVED:-}"
    else echo "postgres not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
