#!/usr/bin/env bash
# A private PostgreSQL server for the tests: its own data directory and Unix socket in a folder
# of its own, no TCP port, started and stopped by name (never a system service).
#
#   tests/postgres/cluster.sh start DIR   initdb DIR (once), start the server, print its URL
#   tests/postgres/cluster.sh stop DIR    stop the server of DIR (fast shutdown)
#
# The URL printed is what LIFEBOAT_TEST_POSTGRES takes, e.g.
# postgres://postgres@localhost/postgres?host=/tmp/lifeboat-pg/socket
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that
# Debian's postgresql package creates.
set -euo pipefail

action=${1:?usage: cluster.sh start|stop DIR}
dir=${2:?usage: cluster.sh start|stop DIR}

bindir=""
for candidate in /usr/lib/postgresql/*/bin; do
    [[ -x "$candidate/pg_ctl" ]] && bindir=$candidate
done
if [[ -z "$bindir" ]]; then
    echo "cluster.sh: no PostgreSQL server found under /usr/lib/postgresql; install the postgresql package" >&2
    exit 1
fi

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

data="$dir/data"
socket="$dir/socket"
case "$action" in
start)
    mkdir -p "$dir" "$socket"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir" "$socket"; fi
    if [[ ! -s "$data/PG_VERSION" ]]; then
        as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            exit 1
        }
    fi
    # No TCP at all (listen_addresses empty): only the socket in $socket. fsync stays on: the
    # tests check that a lease is durable before its ACK, and the benchmarks must pay for it.
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$socket' -c max_connections=300" start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    printf 'postgres://postgres@localhost/postgres?host=%s\n' "$socket"
    ;;
stop)
    if [[ -s "$data/postmaster.pid" ]]; then
        as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
*)
    echo "cluster.sh: unknown action $action (start or stop)" >&2
    exit 2
    ;;
esac
