#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for tests and benchmarks.
#   scripts/pg_server.sh start [DATA_DIR] [PORT]   → prints the DATABASE_URL to use
#   scripts/pg_server.sh stop  [DATA_DIR]
# Installs Debian's postgresql package when no server binaries are found (needs root).
set -euo pipefail
action=${1:-start}
data=${2:-/tmp/edureg-pg}
port=${3:-55432}

find_bin() {
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)"
}

bin=$(find_bin || true)
if [ -z "$bin" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed; run as root or: apt-get install postgresql" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(find_bin)
fi

run_as() {
  # The server refuses to run as root: use the postgres account when we are root.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

case "$action" in
  start)
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres "$data"
      run_as "'$bin/initdb' -D '$data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
    fi
    if ! run_as "'$bin/pg_ctl' -D '$data' status" >/dev/null 2>&1; then
      run_as "'$bin/pg_ctl' -D '$data' -l '$data/server.log' -w \
        -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start" \
        >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$port/edureg"
    ;;
  stop)
    run_as "'$bin/pg_ctl' -D '$data' -m fast stop" >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop [DATA_DIR] [PORT]" >&2
    exit 2
    ;;
esac
