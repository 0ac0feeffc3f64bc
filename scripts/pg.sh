#!/usr/bin/env bash
# A PostgreSQL cluster of tgdesk's own, never the system one.
#   scripts/pg.sh start DIR PORT [--fast]   create (first time) and start it
#   scripts/pg.sh stop DIR                  stop it
# DIR may be relative to the caller's working directory. The cluster listens
# on 127.0.0.1:PORT and on a socket in DIR. PostgreSQL refuses to run as root,
# so as root it runs as the "postgres" user; DIR and its parents must be
# reachable by that user. --fast turns fsync off: for throwaway test clusters
# only.
# stop exits 0 when the cluster is stopped afterwards, also when it was not
# running or DIR holds no cluster; when it cannot stop a running cluster it
# says why on stderr and exits 1.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

# Runs a command as the cluster's owner, from / (it may not enter the caller's
# cwd): every path given to it must be absolute.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

cmd=${1:?usage: pg.sh start DIR PORT [--fast] | stop DIR}
dir=${2:?DIR missing}
# Absolute, with symbolic links resolved (scripts/run.sh may make .local/pg
# a link to a directory the postgres user can reach); DIR need not exist.
dir=$(realpath -m -- "$dir")

case "$cmd" in
start)
    port=${3:?PORT missing}
    fast=${4:-}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if ! as_owner test -w "$dir"; then
        echo "pg: $dir is not reachable by the postgres user" >&2
        exit 1
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300"
    [ "$fast" = --fast ] && opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        exit 0
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
    ;;
stop)
    [ -f "$dir/data/PG_VERSION" ] || exit 0
    # pg_ctl status: 0 running, 3 not running, 4 data directory not accessible.
    st=0
    as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || st=$?
    case $st in
    0) ;;
    3) exit 0 ;;
    *)
        echo "pg: cannot stop the cluster in $dir: its data directory is not accessible" \
            "to $(if [ "$(id -u)" -eq 0 ]; then echo the postgres user; else id -un; fi)" >&2
        exit 1
        ;;
    esac
    # -w waits up to PGCTLTIMEOUT seconds (default 60) for the server to go.
    if ! out=$(as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop 2>&1); then
        st=0
        as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || st=$?
        [ "$st" -eq 3 ] && exit 0
        echo "pg: could not stop the cluster in $dir:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: pg.sh start DIR PORT [--fast] | stop DIR" >&2
    exit 2
    ;;
esac
