#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests, benchmarks and trying
# `mingzhang --store postgres://...` on one machine. Not for production: it
# trusts every loopback connection.
#
#   ops/postgres.sh start DIR PORT   initdb DIR/pgdata (once), start it on
#                                    127.0.0.1:PORT, print the store URL
#   ops/postgres.sh stop DIR         stop it (fast shutdown)
#   ops/postgres.sh standby PRIMARY_DIR DIR PORT
#                                    a streaming standby of the cluster in
#                                    PRIMARY_DIR (pg_basebackup -R), made the
#                                    primary's synchronous standby: a COMMIT
#                                    returns only once the standby has it;
#                                    print the standby's URL
#   ops/postgres.sh promote DIR      promote the standby in DIR to primary
#   ops/postgres.sh kill DIR         SIGKILL the cluster's postmaster (a crash)
#
# PostgreSQL refuses to run as root, so as root the cluster runs as `nobody`.
# Installs Debian's postgresql with apt-get when no server binary is found.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR PORT | stop DIR | standby PRIMARY_DIR DIR PORT | promote DIR | kill DIR" >&2
  exit 2
}

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    # Resolved: the other server programs (pg_basebackup, psql) sit beside
    # the real pg_ctl, not beside a symlink to it.
    dirname "$(readlink -f "$(command -v pg_ctl)")"
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

# Makes DIR for a cluster, reachable by the user that runs it.
prepare_dir() {
  local dir="$1"
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
}

# Starts the cluster in DIR/pgdata on 127.0.0.1:PORT and notes the port.
start_server() {
  local dir="$1" port="$2"
  # TCP on loopback only; no Unix socket, so no shared socket directory.
  as_cluster_user "$bindir/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c synchronous_commit=on -c max_connections=300" \
    start >/dev/null \
    || { cat "$dir/postgres.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
}

[ $# -ge 2 ] || usage
command="$1"
dir="$2"
pgdata="$dir/pgdata"
case "$command" in
  start)
    [ $# -eq 3 ] || usage
    port="$3"
    prepare_dir "$dir"
    if [ ! -f "$pgdata/PG_VERSION" ]; then
      as_cluster_user "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    start_server "$dir" "$port"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  standby)
    [ $# -eq 4 ] || usage
    primary_dir="$2"
    dir="$3"
    pgdata="$dir/pgdata"
    port="$4"
    primary_port="$(cat "$primary_dir/port")"
    prepare_dir "$dir"
    # -R writes the standby's primary_conninfo and standby.signal.
    as_cluster_user "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
      -D "$pgdata" -X stream -R >"$dir/basebackup.log" 2>&1 \
      || { cat "$dir/basebackup.log" >&2; exit 1; }
    start_server "$dir" "$port"
    primary_url="postgres://postgres@127.0.0.1:$primary_port/postgres"
    for _ in $(seq 1 300); do
      streaming="$("$bindir/psql" -XAt "$primary_url" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")"
      [ "$streaming" -ge 1 ] && break
      sleep 0.1
    done
    [ "$streaming" -ge 1 ] || { echo "error: the standby on port $port never streamed from the primary" >&2; exit 1; }
    # From now on the primary's COMMIT waits for the standby's flush.
    "$bindir/psql" -XAtq "$primary_url" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  promote)
    as_cluster_user "$bindir/pg_ctl" -D "$pgdata" -w -t 60 promote >/dev/null
    ;;
  kill)
    kill -9 "$(head -n 1 "$pgdata/postmaster.pid")"
    ;;
  stop)
    as_cluster_user "$bindir/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
    ;;
  *)
    usage
    ;;
esac
