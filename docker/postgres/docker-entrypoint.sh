#!/usr/bin/env bash
# Entry point of outbox-bridge/postgres:17, compatible with the official postgres image's environment:
#   POSTGRES_PASSWORD  the superuser's password (required on first start; POSTGRES_HOST_AUTH_METHOD=trust skips it)
#   POSTGRES_USER      the superuser (default postgres)
#   POSTGRES_DB        a database created on first start (default: POSTGRES_USER)
#   PGDATA             the data directory (default /var/lib/postgresql/data)
# On an empty data directory it runs initdb, sets the password, creates the database and writes pg_hba.conf (scram
# for every host, for connections and replication) and the logical-decoding settings; then it runs postgres.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" != 'postgres' ]; then exec "$@"; fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

log() { echo "outbox-bridge/postgres: $*"; }

if [ "$(id -u)" = 0 ]; then
  echo "outbox-bridge/postgres: refusing to run as root. Fix: run the container as the image's user 'postgres' (do not set --user root)." >&2
  exit 1
fi

mkdir -p "$PGDATA"
chmod 700 "$PGDATA" 2>/dev/null || true
if [ ! -w "$PGDATA" ]; then
  echo "outbox-bridge/postgres: the data directory $PGDATA is not writable by user $(id -un) (uid $(id -u)). Fix: mount a volume owned by that uid, or a named volume." >&2
  exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo "outbox-bridge/postgres: POSTGRES_PASSWORD is not set and the data directory $PGDATA is empty. Fix: set POSTGRES_PASSWORD (the superuser's password) or POSTGRES_HOST_AUTH_METHOD=trust for a throw-away server." >&2
    exit 1
  fi
  if [ -n "$(ls -A "$PGDATA")" ]; then
    echo "outbox-bridge/postgres: $PGDATA holds files but no PG_VERSION: not a PostgreSQL data directory, and it is not overwritten. Fix: mount an empty directory or an existing PostgreSQL 17 data directory." >&2
    exit 1
  fi
  log "initializing the database cluster in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
         --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" > /dev/null
  rm -f "$pwfile"
  cat >> "$PGDATA/pg_hba.conf" <<HBA

# outbox-bridge/postgres: every host, for connections and for (logical) replication
host all         all all $POSTGRES_HOST_AUTH_METHOD
host replication all all $POSTGRES_HOST_AUTH_METHOD
HBA
  cat >> "$PGDATA/postgresql.conf" <<CONF

# outbox-bridge/postgres: reachable from other containers, ready for logical decoding (the relay's slot)
listen_addresses = '*'
wal_level = logical
# the relay's first-start snapshot orders rows committed before its slot by commit time
track_commit_timestamp = on
max_replication_slots = 10
max_wal_senders = 10
password_encryption = scram-sha-256
CONF
  # a temporary server on the Unix socket only, for creating the database (it logs "ready to accept
  # connections" too: twice on a first start, once later, like the official image)
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
         -c "CREATE DATABASE \"$POSTGRES_DB\"" > /dev/null
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop
  log "initialized; starting PostgreSQL"
else
  log "existing data directory $PGDATA; starting PostgreSQL"
fi

exec "$@"
