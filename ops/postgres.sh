#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests, benchmarks and trying
# `mingzhang --store postgres://...` on one machine. Not for production: it
# trusts every loopback connection.
#
#   ops/postgres.sh start DIR PORT   initdb DIR/pgdata (once), start it on
#                                    127.0.0.1:PORT, print the store URL
#   ops/postgres.sh stop DIR         stop it (fast shutdown)
#
# PostgreSQL refuses to run as root, so as root the cluster runs as `nobody`.
# Installs Debian's postgresql with apt-get when no server binary is found.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
}

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then
      echo "$dir"
      return
    fi
  done
  return 1
}

bindir="$(find_bindir || true)"
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
    bindir="$(find_bindir)"
  else
    echo "error: no PostgreSQL server (pg_ctl, initdb) found, and cannot apt-get install postgresql" >&2
    exit 1
  fi
fi

# Runs a server binary as a user PostgreSQL accepts.
as_cluster_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

[ $# -ge 2 ] || usage
command="$1"
dir="$2"
pgdata="$dir/pgdata"
case "$command" in
  start)
    [ $# -eq 3 ] || usage
    port="$3"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      # nobody must reach the directory (a tempdir is 0700 root).
      chmod a+x "$dir"
      chown nobody "$dir"
      if ! runuser -u nobody -- test -w "$dir"; then
        echo "error: $dir: the user nobody, which runs the cluster, cannot reach it (a parent directory is not searchable); choose a directory under /tmp" >&2
        exit 1
      fi
    fi
    if [ ! -f "$pgdata/PG_VERSION" ]; then
      as_cluster_user "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # TCP on loopback only; no Unix socket, so no shared socket directory.
    as_cluster_user "$bindir/pg_ctl" -D "$pgdata" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c synchronous_commit=on -c max_connections=300" \
      start >/dev/null \
      || { cat "$dir/postgres.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_cluster_user "$bindir/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
    ;;
  *)
    usage
    ;;
esac
