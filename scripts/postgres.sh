#!/usr/bin/env bash
# A throwaway PostgreSQL for pykube's tests and benchmarks; safe to run again and again.
#
#   scripts/postgres.sh [DATA_PATH] [PORT]      (defaults: /tmp/pykube-pg 55432)
#
# Installs PostgreSQL when its binaries are missing (Debian; needs root), creates a cluster under
# DATA_PATH owned by user postgres (superuser "postgres", trust auth, listening on 127.0.0.1 only),
# starts it unless it already runs (a stale pid file left by a killed server is cleared), creates the
# database "pykube", and prints its URL as the last line of output.
set -euo pipefail

base=${1:-/tmp/pykube-pg}
port=${2:-55432}
data=$base/data
sockets=$base/run
logfile=$base/postgres.log

find_bin() {
  local initdb
  initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

if ! bin=$(find_bin); then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y postgresql >&2; then
    apt-get update >&2
    apt-get install -y postgresql >&2
  fi
  bin=$(find_bin) || { echo "postgres.sh: PostgreSQL binaries still missing after install" >&2; exit 1; }
fi

# The server refuses to run as root: as root, act as user postgres; otherwise as oneself.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  as_owner() { runuser -u postgres -- "$@"; }
  mkdir -p "$base"
  chown postgres: "$base"
else
  as_owner() { "$@"; }
  mkdir -p "$base"
fi
as_owner mkdir -p "$sockets"

if [ ! -s "$data/PG_VERSION" ]; then
  as_owner "$bin/initdb" --pgdata="$data" --username=postgres --auth=trust --encoding=UTF8 --no-locale >&2
fi

ready() { "$bin/pg_isready" --quiet --host=127.0.0.1 --port="$port"; }
running() { as_owner "$bin/pg_ctl" --pgdata="$data" status >/dev/null 2>&1; }
# A server that was just killed may still look alive while it dies: wait for it to be ready or gone.
for _ in $(seq 1 60); do
  if ready; then
    echo "postgres.sh: a server is accepting connections on 127.0.0.1:$port" >&2
    break
  fi
  if ! running; then
    # No live process owns the pid file: it is stale (a killed server).
    rm -f "$data/postmaster.pid"
    as_owner "$bin/pg_ctl" --pgdata="$data" --log="$logfile" --wait --timeout=60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sockets -c max_connections=200" \
      start >&2
  fi
  ready || sleep 0.5
done
"$bin/pg_isready" --host=127.0.0.1 --port="$port" >&2

psql=("$bin/psql" --no-psqlrc --quiet --host=127.0.0.1 --port="$port" --username=postgres)
if [ "$("${psql[@]}" --tuples-only --no-align --dbname=postgres \
  --command="SELECT 1 FROM pg_database WHERE datname = 'pykube'")" != 1 ]; then
  "${psql[@]}" --dbname=postgres --command="CREATE DATABASE pykube" >&2
fi

echo "postgresql://postgres@127.0.0.1:$port/pykube"
