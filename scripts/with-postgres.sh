#!/usr/bin/env bash
# with-postgres.sh COMMAND...: runs COMMAND with a throwaway PostgreSQL.
#
# Installs PostgreSQL 15 (Debian's postgresql-15) when it is missing,
# initialises a cluster in a temp folder on a free loopback port (fsync and
# synchronous_commit on, as in production), exports its URL as
# LADDER_TEST_POSTGRES (the integration tests then run against PostgreSQL; each
# test server gets a schema of its own), runs COMMAND, and stops and removes
# the cluster whatever COMMAND's outcome.
set -euo pipefail
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    echo "with-postgres: installing PostgreSQL 15" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-15 >/dev/null \
        || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
dir=$(mktemp -d /tmp/ladder-pg.XXXXXX)
chmod 755 "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# PostgreSQL refuses to run as root: run it as the postgres user then.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    runas() { su postgres -s /bin/bash -c "$*"; }
else
    runas() { bash -c "$*"; }
fi
runas "'$pgbin/initdb' -D '$dir/db' -A trust -U ladder -E UTF8 --no-locale >'$dir/initdb.log'"
runas "'$pgbin/pg_ctl' -D '$dir/db' -w -l '$dir/log' -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on\" start >/dev/null"
stop() { runas "'$pgbin/pg_ctl' -D '$dir/db' -m immediate stop >/dev/null 2>&1" || true; rm -rf "$dir"; }
trap stop EXIT
export LADDER_TEST_POSTGRES="postgres://ladder@127.0.0.1:$port/postgres"
export LADDER_TEST_PG_CTL="$pgbin/pg_ctl"
export LADDER_TEST_PG_DATA="$dir/db"
echo "with-postgres: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
